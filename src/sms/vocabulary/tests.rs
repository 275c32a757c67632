use super::*;

fn command(text: &str) -> Option<Command> {
    recognize(text).map(|r| r.command)
}

fn assert_opts_out(texts: &[&str]) {
    for text in texts {
        assert_eq!(
            command(text),
            Some(Command::OptOut),
            "{text:?} should opt out"
        );
    }
}

fn assert_not_a_command(texts: &[&str]) {
    for text in texts {
        assert_eq!(recognize(text), None, "{text:?} should not be a command");
    }
}

#[test]
fn twilio_and_ctia_single_words_opt_out_in_english() {
    assert_opts_out(&[
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "opt out",
        "Opt-Out",
    ]);
    assert_eq!(
        recognize("stop"),
        Some(Recognized {
            command: Command::OptOut,
            language: "en",
            only_when_opted_out: false,
        })
    );
}

#[test]
fn case_edge_punctuation_spacing_and_emoji_do_not_hide_a_stop() {
    assert_opts_out(&[
        "Stop.",
        " stop!! ",
        "sToP",
        "STOP 🛑",
        "🛑 stop 🛑",
        "\"stop\"",
        "stop\n",
        "stop stop stop",
        "STOP! STOP!",
        "S T O P",
        "s.t.o.p",
        "S-T-O-P",
        "STOOOOP",
        "stopppp",
        "stpo",
        "Stop\nSent from my iPhone",
        "Unsubscirbe",
    ]);
}

#[test]
fn plain_english_requests_to_stop_opt_out() {
    assert_opts_out(&[
        "STOP TEXTING ME please",
        "Please stop",
        "please stop texting me",
        "Stop messaging me!",
        "stop sending",
        "Stop sending me messages, thank you",
        "Remove me",
        "remove me from your list",
        "Unsubscribe me",
        "take me off the list please",
        "Stop now",
        "Don't text me",
        "do not text me!!",
        "Opt me out.",
        "STOP ALL",
    ]);
}

#[test]
fn a_request_to_stop_inside_a_longer_message_opts_out() {
    assert_opts_out(&[
        "STOP!!! I never signed up",
        "I said stop",
        "who is this? stop",
        "do not contact me",
        "I revoke consent",
        "unsubscribe me",
        "Hi, please stop texting me, I am not interested",
        "I don't want these texts anymore",
        "Wrong number. Who is this?",
        "how do I unsubscribe from this",
    ]);
}

#[test]
fn spanish_requests_to_stop_opt_out_in_spanish() {
    for text in [
        "ALTO",
        "Parar",
        "para",
        "CANCELAR",
        "Baja",
        "detener",
        "No más",
        "no mas",
        "NO MÁS MENSAJES",
        "No me escriban",
        "Dejen de escribirme, por favor",
        "por favor no me escriban",
        "¡Alto!",
        "quiero darme de baja",
        "Para ya",
        "No quiero más mensajes",
        "ya no quiero mensajes",
        "kiero darme de baja",
        "Ya no quiero recibir mensajes, gracias",
    ] {
        let recognized = recognize(text);
        assert_eq!(
            recognized.map(|r| (r.command, r.language)),
            Some((Command::OptOut, "es")),
            "{text:?} should opt out in Spanish"
        );
    }
}

#[test]
fn a_stop_word_inside_a_longer_sentence_is_not_a_command() {
    assert_not_a_command(&[
        "the bus stop on 5th is broken",
        "don't stop the survey",
        "the end of Main St",
        "Please don't stop",
        "please don't stop texting me",
        "stop sign down at Oak & 3rd",
        "I want to cancel my appointment",
        "quit smoking program info?",
        "Where do I start?",
        "help my neighbor with the pothole",
        "para la calle 5",
        "no más baches por favor en mi calle",
        "no quiero que dejen de escribirme",
        "stopped",
        "stops",
        "nonstop",
        "Ending soon",
    ]);
}

#[test]
fn a_stop_family_word_used_otherwise_may_be_a_request_and_a_plain_noun_is_not() {
    for (text, language) in [
        ("tell the drivers to stop speeding on Elm", "en"),
        ("I want to cancel", "en"),
        ("I never signed up for this but ok, weekly", "en"),
        ("hay que parar esto", "es"),
    ] {
        assert_eq!(read(text), Reading::MaybeOptOut { language }, "{text:?}");
    }
    for text in [
        "the bus stop is broken",
        "stop sign",
        "Stop light at 4th is out",
        "I want to cancel my appointment",
        "please don't stop",
        "weekly",
    ] {
        assert_eq!(read(text), Reading::Nothing, "{text:?}");
    }
}

#[test]
fn empty_filler_only_and_symbol_only_messages_are_not_commands() {
    assert_not_a_command(&[
        "",
        "   ",
        "!!!",
        "😜🎉",
        "please",
        "thanks",
        "por favor",
        "ok",
        "no",
        "No thanks",
    ]);
}

#[test]
fn start_unstop_and_subscribe_always_opt_in() {
    for (text, language) in [
        ("START", "en"),
        ("unstop", "en"),
        ("Subscribe", "en"),
        ("start please", "en"),
        ("Opt in", "en"),
        ("COMENZAR", "es"),
        ("iniciar", "es"),
        ("Alta", "es"),
    ] {
        assert_eq!(
            recognize(text),
            Some(Recognized {
                command: Command::OptIn,
                language,
                only_when_opted_out: false,
            }),
            "{text:?}"
        );
    }
}

#[test]
fn yes_and_si_opt_in_only_for_a_number_that_opted_out() {
    for (text, language) in [
        ("YES", "en"),
        ("y", "en"),
        ("Yes please", "en"),
        ("Yes!", "en"),
        ("SI", "es"),
        ("Sí", "es"),
        ("¡Sí, por favor!", "es"),
    ] {
        assert_eq!(
            recognize(text),
            Some(Recognized {
                command: Command::OptIn,
                language,
                only_when_opted_out: true,
            }),
            "{text:?}"
        );
    }
    assert_not_a_command(&["yes I visit weekly", "si, cada semana", "yesterday"]);
}

#[test]
fn help_and_info_ask_for_help_in_their_language() {
    for (text, language) in [
        ("HELP", "en"),
        ("help?", "en"),
        ("Info", "en"),
        ("help me please", "en"),
        ("AYUDA", "es"),
        ("¿Ayuda?", "es"),
        ("ayúdame", "es"),
    ] {
        assert_eq!(
            recognize(text),
            Some(Recognized {
                command: Command::Help,
                language,
                only_when_opted_out: false,
            }),
            "{text:?}"
        );
    }
}

#[test]
fn a_very_long_message_is_read_in_bounded_time() {
    let long = "stop ".repeat(10_000) + "texting me now or else I will call city hall";
    assert_eq!(command(&long), Some(Command::OptOut));
    let noise: String = (0..20_000).map(|i| format!("word{i} ")).collect();
    let started = std::time::Instant::now();
    assert_eq!(read(&(noise + " stop texting me")), Reading::Nothing);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

/// Every phrase of every list, with its language and list name.
fn phrases<'a>(pick: impl Fn(&'a Language) -> &'a Vec<Phrase>) -> Vec<(&'static str, String)> {
    LEXICON
        .languages
        .iter()
        .flat_map(|l| pick(l).iter().map(|p| (static_code(l), p.join(" "))))
        .collect()
}

#[test]
fn every_listed_phrase_is_written_in_the_form_it_is_matched_in() {
    let mut wrong = Vec::new();
    for l in &LEXICON.languages {
        for list in [
            &l.opt_out_whole,
            &l.opt_out_clause,
            &l.opt_out_anywhere,
            &l.ambiguous,
            &l.not_a_request,
            &l.opt_in_whole,
            &l.opt_in_if_opted_out,
            &l.help_whole,
            &l.filler,
            &l.negations,
        ] {
            for phrase in list {
                let text = phrase.join(" ");
                let read = tokens::clauses(&text, &LEXICON);
                if read != [phrase.clone()] {
                    wrong.push(format!("{}: {text:?} is read as {read:?}", l.code));
                }
            }
        }
    }
    for signature in LEXICON.languages.iter().flat_map(|l| &l.signatures) {
        let text = format!("stop {}", signature.join(" "));
        if tokens::clauses(&text, &LEXICON) != [vec!["stop".to_string()]] {
            wrong.push(format!("signature {signature:?} is not cut off"));
        }
    }
    assert!(
        wrong.is_empty(),
        "entries that can never match:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_phrase_means_two_different_commands() {
    let out: Vec<String> = LEXICON
        .languages
        .iter()
        .flat_map(|l| {
            l.opt_out_whole
                .iter()
                .chain(&l.opt_out_clause)
                .chain(&l.opt_out_anywhere)
        })
        .map(|p| p.join(" "))
        .collect();
    for l in &LEXICON.languages {
        for p in l
            .opt_in_whole
            .iter()
            .chain(&l.opt_in_if_opted_out)
            .chain(&l.help_whole)
        {
            let p = p.join(" ");
            assert!(
                !out.contains(&p),
                "{p:?} both opts out and means something else"
            );
        }
    }
}

#[test]
fn no_misspelling_is_itself_a_word_of_the_vocabulary() {
    let mut words: Vec<&str> = Vec::new();
    for l in &LEXICON.languages {
        for list in [
            &l.opt_out_whole,
            &l.opt_out_clause,
            &l.opt_out_anywhere,
            &l.ambiguous,
            &l.opt_in_whole,
            &l.opt_in_if_opted_out,
            &l.help_whole,
        ] {
            words.extend(list.iter().flatten().map(String::as_str));
        }
    }
    for typo in LEXICON.spellings.keys() {
        assert!(
            !words.contains(&typo.as_str()),
            "{typo:?} is a misspelling and a word"
        );
    }
}

#[test]
fn every_whole_message_phrase_is_its_own_command_and_language() {
    let mut wrong = Vec::new();
    let check =
        |wrong: &mut Vec<String>, list: Vec<(&'static str, String)>, want: Command, only: bool| {
            for (language, text) in list {
                let got = recognize(&text);
                let ok = got.is_some_and(|r| r.command == want && r.only_when_opted_out == only)
                    && (want == Command::OptOut || got.is_some_and(|r| r.language == language));
                if !ok {
                    wrong.push(format!("{language} {text:?}: {got:?}, wanted {want:?}"));
                }
            }
        };
    check(
        &mut wrong,
        phrases(|l| &l.opt_out_whole),
        Command::OptOut,
        false,
    );
    check(
        &mut wrong,
        phrases(|l| &l.opt_out_clause),
        Command::OptOut,
        false,
    );
    check(
        &mut wrong,
        phrases(|l| &l.opt_out_anywhere),
        Command::OptOut,
        false,
    );
    check(
        &mut wrong,
        phrases(|l| &l.opt_in_whole),
        Command::OptIn,
        false,
    );
    check(
        &mut wrong,
        phrases(|l| &l.opt_in_if_opted_out),
        Command::OptIn,
        true,
    );
    check(&mut wrong, phrases(|l| &l.help_whole), Command::Help, false);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_clause_phrase_opts_out_as_a_sentence_of_a_longer_message() {
    for (language, phrase) in phrases(|l| &l.opt_out_clause) {
        let text = match language {
            "es" => format!("¿Quién es? {phrase}. Nunca pedí esto"),
            _ => format!("Who is this? {phrase}. I never asked for this"),
        };
        assert_eq!(command(&text), Some(Command::OptOut), "{text:?}");
    }
}

#[test]
fn every_anywhere_phrase_opts_out_inside_a_sentence_and_not_after_a_negation() {
    for (language, phrase) in phrases(|l| &l.opt_out_anywhere) {
        let (inside, negated) = match language {
            "es" => (
                format!("hola {phrase} gracias adios"),
                format!("nunca dije {phrase}"),
            ),
            _ => (
                format!("hello {phrase} thanks bye"),
                format!("i never said {phrase}"),
            ),
        };
        assert_eq!(command(&inside), Some(Command::OptOut), "{inside:?}");
        assert_ne!(command(&negated), Some(Command::OptOut), "{negated:?}");
    }
}

#[test]
fn every_ambiguous_phrase_inside_an_answer_asks_for_clarification() {
    for (language, phrase) in phrases(|l| &l.ambiguous) {
        let text = match language {
            "es" => format!("mi vecino dijo {phrase} ayer"),
            _ => format!("my neighbor said {phrase} yesterday"),
        };
        assert_eq!(read(&text), Reading::MaybeOptOut { language }, "{text:?}");
    }
}

#[test]
fn every_not_a_request_phrase_is_an_ordinary_answer() {
    for (_, phrase) in phrases(|l| &l.not_a_request) {
        let text = format!("the {phrase} near my house");
        assert_eq!(read(&text), Reading::Nothing, "{text:?}");
    }
}
