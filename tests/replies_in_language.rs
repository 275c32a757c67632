//! The gateway's own replies (HELP, STOP, START, the default reply) are wholly in the resident's
//! language: the organisation's name and the help contact too, as configured per language.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{phone, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_spanish_help_reply_gives_the_help_contact_in_spanish_by_default() {
    let app = spawn_app().await;
    let help = app.say(&phone(1), "AYUDA").await;
    assert_eq!(
        help,
        [
            "City of Testville: encuestas y reportes por texto. Para ayuda: llame al 311. Pueden aplicar tarifas. Responda STOP para salir."
        ]
    );
    let help = app.say(&phone(2), "HELP").await;
    assert!(help[0].contains("For help, call 311."), "{help:?}");
}

#[tokio::test]
async fn a_resident_who_speaks_spanish_gets_help_in_spanish_even_for_the_english_word() {
    let app = spawn_app().await;
    let me = phone(3);
    // Starting the survey in Spanish records the resident's language.
    app.say(&me, "PARQUES").await;
    let help = app.say(&me, "HELP").await;
    assert!(help[0].contains("llame al 311"), "{help:?}");
    assert!(!help[0].contains("call"), "{help:?}");
}

#[tokio::test]
async fn organisation_and_help_contact_set_per_language_are_used_in_every_reply() {
    let app = spawn_app_with(|s| {
        s.organization = "Louisville Metro".into();
        s.help_contact = "call 502-574-5000".into();
        s.organization_by_language = BTreeMap::from([("es".into(), "Metro de Louisville".into())]);
        s.help_contact_by_language =
            BTreeMap::from([("es".into(), "llame al 502-574-5000".into())]);
    })
    .await;
    let (ana, beto) = (phone(4), phone(5));
    assert_eq!(
        app.say(&beto, "AYUDA").await,
        [
            "Metro de Louisville: encuestas y reportes por texto. Para ayuda: llame al 502-574-5000. Pueden aplicar tarifas. Responda STOP para salir."
        ]
    );
    assert_eq!(
        app.say(&ana, "HELP").await,
        [
            "Louisville Metro: surveys and service requests by text. For help, call 502-574-5000. Msg & data rates may apply. Reply STOP to opt out."
        ]
    );
    // A resident whose language is Spanish (from a survey taken in Spanish) texting nonsense.
    let carla = phone(6);
    for text in ["PARQUES", "cada semana", "5", "si", "nada"] {
        app.say(&carla, text).await;
    }
    let unmatched = app.say(&carla, "hola que tal").await;
    assert!(
        unmatched[0].starts_with("Metro de Louisville: no entendimos"),
        "{unmatched:?}"
    );
    assert_eq!(
        app.say(&beto, "ALTO").await,
        [
            "Se dio de baja de los mensajes de Metro de Louisville y no recibirá más. Responda START para volver."
        ]
    );
    assert!(app.say(&ana, "STOP").await[0].contains("Louisville Metro texts"));
}

/// `civictext config` with `file` as the config file and `env` set; returns what it prints.
fn effective_config(file: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("civictext.toml");
    std::fs::write(&path, file).unwrap();
    // `config` checks what `serve` checks, the flows directory included.
    std::fs::create_dir(dir.path().join("conversation-flows")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_civictext"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .arg("config")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("civictext runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn per_language_texts_come_from_a_table_in_the_file_and_from_environment_variables() {
    let shown = effective_config(
        "help_contact = \"call 311\"\n[help_contact_by_language]\nvi = \"gọi 311\"\n",
        &[
            (
                "CIVICTEXT_HELP_CONTACT_ES",
                "llame al 311 o visite louisvilleky.gov",
            ),
            ("CIVICTEXT_ORGANIZATION_ES", "Ciudad de Louisville"),
            ("CIVICTEXT_ORGANIZATION", "City of Louisville"),
        ],
    );
    assert!(shown.contains("help_contact = \"call 311\"\n"), "{shown}");
    assert!(
        shown.contains("organization = \"City of Louisville\"\n"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "help_contact_by_language = { \"es\" = \"llame al 311 o visite louisvilleky.gov\", \"vi\" = \"gọi 311\" }\n"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("organization_by_language = { \"es\" = \"Ciudad de Louisville\" }\n"),
        "{shown}"
    );
}

#[test]
fn a_plain_help_contact_in_the_file_still_works() {
    let shown = effective_config("help_contact = \"text 911 for emergencies\"\n", &[]);
    assert!(
        shown.contains("help_contact = \"text 911 for emergencies\"\n"),
        "{shown}"
    );
    assert!(!shown.contains("by_language"), "{shown}");
}
