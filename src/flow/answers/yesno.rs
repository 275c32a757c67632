//! Yes/no answers in English and Spanish.
//!
//! The reply is read as a sequence of known phrases ("yes", "of course not", "not sure",
//! "claro que si", "no se"); other words are filler ("yes please", "no thanks", "Yes I do").
//! It is understood when every phrase found points the same way. A reply that says both
//! ("yes no"), or hedges anywhere ("maybe", "not sure", "idk", "no se"), is not understood.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::sms::fold::{fold, words};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Marker {
    Yes,
    No,
    Unsure,
    /// "not" / "don't": turns a following yes into a no ("not really", "not ok").
    Not,
}

use Marker::*;

/// Phrases as folded words. Longer phrases win over shorter ones starting at the same word.
const PHRASES: &[(&str, Marker)] = &[
    ("yes", Yes),
    ("yeah", Yes),
    ("yea", Yes),
    ("yep", Yes),
    ("yup", Yes),
    ("ya", Yes),
    ("yessir", Yes),
    ("sure", Yes),
    ("ok", Yes),
    ("okay", Yes),
    ("okey", Yes),
    ("k", Yes),
    ("kk", Yes),
    ("correct", Yes),
    ("right", Yes),
    ("absolutely", Yes),
    ("definitely", Yes),
    ("certainly", Yes),
    ("exactly", Yes),
    ("indeed", Yes),
    ("affirmative", Yes),
    ("true", Yes),
    ("of course", Yes),
    ("for sure", Yes),
    ("i do", Yes),
    ("i did", Yes),
    ("i am", Yes),
    ("i will", Yes),
    ("i have", Yes),
    ("i think so", Yes),
    ("no problem", Yes),
    ("si", Yes),
    ("sip", Yes),
    ("claro", Yes),
    ("claro que si", Yes),
    ("por supuesto", Yes),
    ("correcto", Yes),
    ("cierto", Yes),
    ("exacto", Yes),
    ("vale", Yes),
    ("dale", Yes),
    ("de acuerdo", Yes),
    ("seguro", Yes),
    ("afirmativo", Yes),
    ("no", No),
    ("nope", No),
    ("nah", No),
    ("naw", No),
    ("nop", No),
    ("never", No),
    ("negative", No),
    ("false", No),
    ("wrong", No),
    ("incorrect", No),
    ("not really", No),
    ("not at all", No),
    ("of course not", No),
    ("absolutely not", No),
    ("definitely not", No),
    ("certainly not", No),
    ("i don't", No),
    ("i dont", No),
    ("i do not", No),
    ("i didn't", No),
    ("i didnt", No),
    ("i did not", No),
    ("i'm not", No),
    ("im not", No),
    ("i am not", No),
    ("i won't", No),
    ("i wont", No),
    ("i will not", No),
    ("i haven't", No),
    ("i havent", No),
    ("i have not", No),
    ("i don't think so", No),
    ("i dont think so", No),
    ("nunca", No),
    ("para nada", No),
    ("claro que no", No),
    ("por supuesto que no", No),
    ("incorrecto", No),
    ("negativo", No),
    ("not", Not),
    ("don't", Not),
    ("dont", Not),
    ("maybe", Unsure),
    ("perhaps", Unsure),
    ("possibly", Unsure),
    ("not sure", Unsure),
    ("unsure", Unsure),
    ("idk", Unsure),
    ("dunno", Unsure),
    ("don't know", Unsure),
    ("dont know", Unsure),
    ("i don't know", Unsure),
    ("i dont know", Unsure),
    ("i'm not sure", Unsure),
    ("im not sure", Unsure),
    ("i am not sure", Unsure),
    ("sometimes", Unsure),
    ("kind of", Unsure),
    ("kinda", Unsure),
    ("sort of", Unsure),
    ("quizas", Unsure),
    ("quiza", Unsure),
    ("tal vez", Unsure),
    ("a lo mejor", Unsure),
    ("no se", Unsure),
    ("no lo se", Unsure),
    ("no estoy seguro", Unsure),
    ("no estoy segura", Unsure),
    ("a veces", Unsure),
    ("mas o menos", Unsure),
];

/// Short replies that mean yes or no only when they are the whole reply ("y" is Spanish "and").
const WHOLE_REPLIES: &[(&str, bool)] = &[("y", true), ("s", true), ("n", false)];

/// A phrase's words and what it says.
type Phrase = (Vec<&'static str>, Marker);

/// Phrases indexed by their first word, longest first.
static BY_FIRST_WORD: LazyLock<HashMap<&'static str, Vec<Phrase>>> = LazyLock::new(|| {
    let mut map: HashMap<&str, Vec<Phrase>> = HashMap::new();
    for &(phrase, marker) in PHRASES {
        let ws: Vec<&str> = phrase.split(' ').collect();
        map.entry(ws[0]).or_default().push((ws, marker));
    }
    for list in map.values_mut() {
        list.sort_by_key(|(ws, _)| std::cmp::Reverse(ws.len()));
    }
    map
});

/// Drawn yes and no.
fn emoji_marker(c: char) -> Option<Marker> {
    match c {
        '👍' | '👌' | '✅' | '✔' | '☑' | '🆗' => Some(Yes),
        '👎' | '❌' | '✖' | '🚫' | '⛔' => Some(No),
        _ => None,
    }
}

/// "yesss", "nooo", "siii" → their plain spelling, for the words people stretch.
fn unstretched(word: &str) -> Option<&'static str> {
    // Cheap refusal first: this runs for every unknown word of a long reply.
    if word.len() > 12 || !word.starts_with(['y', 'n', 's', 'o']) {
        return None;
    }
    let mut squeezed = String::with_capacity(word.len());
    for c in word.chars() {
        if !squeezed.ends_with(c) {
            squeezed.push(c);
        }
    }
    [
        "yes", "no", "si", "yep", "yup", "yeah", "nah", "nope", "ok", "sip",
    ]
    .into_iter()
    .find(|w| *w == squeezed)
}

/// Whether the reply says yes (`Some(true)`) or no (`Some(false)`): "yes", "Yes I do", "yep",
/// "👍", "of course", "sí", "claro", "por supuesto", "vale" / "no thanks", "nope", "not really",
/// "never", "👎", "nunca", "para nada". `None` for replies that say neither, both ("yes no"),
/// or hedge ("maybe", "not sure", "no sé").
///
/// ```
/// use civictext::flow::answers::yesno::parse_yes_no;
/// assert_eq!(parse_yes_no("¡Sí, claro!"), Some(true));
/// assert_eq!(parse_yes_no("no thanks"), Some(false));
/// assert_eq!(parse_yes_no("yes no"), None);
/// ```
pub fn parse_yes_no(reply: &str) -> Option<bool> {
    let folded = fold(reply);
    if let Some(&(_, answer)) = WHOLE_REPLIES.iter().find(|(w, _)| *w == folded) {
        return Some(answer);
    }
    let mut markers: Vec<Marker> = reply.chars().filter_map(emoji_marker).collect();
    let ws = words(&folded);
    let mut i = 0;
    while i < ws.len() {
        let found = BY_FIRST_WORD.get(ws[i]).and_then(|candidates| {
            candidates
                .iter()
                .find(|(phrase, _)| ws[i..].starts_with(phrase))
                .map(|(phrase, marker)| (phrase.len(), *marker))
        });
        let (len, marker) = match found {
            Some(hit) => hit,
            None => match unstretched(ws[i]).and_then(|w| BY_FIRST_WORD.get(w)) {
                Some(list) => match list.iter().find(|(p, _)| p.len() == 1) {
                    Some((_, marker)) => (1, *marker),
                    None => {
                        i += 1;
                        continue;
                    }
                },
                None => {
                    i += 1;
                    continue;
                }
            },
        };
        // "not ok", "don't agree" style: a yes right after a negation is a no.
        if marker == Yes && markers.last() == Some(&Not) {
            markers.pop();
            markers.push(No);
        } else {
            markers.push(marker);
        }
        i += len;
    }
    if markers.contains(&Unsure) {
        return None;
    }
    let yes = markers.contains(&Yes);
    let no = markers.contains(&No);
    match (yes, no) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn english_and_spanish_yeses_say_yes() {
        for reply in [
            "yes",
            "Y",
            "YES!!",
            "yeah",
            "yep",
            "yup",
            "sure",
            "ok",
            "Okay",
            "correct",
            "right",
            "absolutely",
            "of course",
            "👍",
            "👍🏽",
            "yes please",
            "Yes I do",
            "yesss",
            "sí",
            "Si",
            "¡Sí!",
            "claro",
            "claro que sí",
            "por supuesto",
            "correcto",
            "vale",
            "siii",
            "✅",
            "I think so",
            "sure thing",
        ] {
            assert_eq!(parse_yes_no(reply), Some(true), "{reply:?}");
        }
    }

    #[test]
    fn english_and_spanish_noes_say_no() {
        for reply in [
            "no",
            "N",
            "NO.",
            "nope",
            "nah",
            "not really",
            "never",
            "👎",
            "no thanks",
            "no thank you",
            "nooo",
            "No, I don't",
            "of course not",
            "absolutely not",
            "nunca",
            "para nada",
            "claro que no",
            "I don't",
            "not at all",
            "not ok",
            "❌",
        ] {
            assert_eq!(parse_yes_no(reply), Some(false), "{reply:?}");
        }
    }

    #[test]
    fn contradictory_replies_are_not_guessed() {
        for reply in ["yes no", "yes and no", "sí y no", "👍 no", "no... yes"] {
            assert_eq!(parse_yes_no(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn hedges_are_neither_yes_nor_no() {
        for reply in [
            "maybe",
            "not sure",
            "I'm not sure",
            "idk",
            "I don't know",
            "no sé",
            "tal vez",
            "quizás",
            "sometimes",
            "maybe yes",
        ] {
            assert_eq!(parse_yes_no(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn replies_without_yes_or_no_are_not_understood() {
        for reply in [
            "",
            "   ",
            "🎉",
            "hello",
            "2",
            "the park",
            "y tu?",
            "yesterday",
            "nothing",
        ] {
            assert_eq!(parse_yes_no(reply), None, "{reply:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(s in "\\PC*|(?s).{0,1600}") {
            let _ = parse_yes_no(&s);
        }
    }
}
