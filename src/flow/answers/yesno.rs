//! Yes/no answers in English and Spanish, read the way a person reads them.
//!
//! A reply is a yes or a no when it *leads* with one ("yes", "Yes I do", "nope, it's too dark",
//! "claro que sí", "no gracias"), after at most a "well" or "um", and nothing later in it says
//! the opposite or hedges ("yes but no", "not really yes", "maybe", "no sé", "yes, but only in
//! summer"). Short replies that are only sometimes an answer — "I am", "I will", "right", "ya",
//! "vale" — count only when nothing but courtesy follows them ("I am!", "yes I will, thanks"):
//! "I am away from my phone, will reply later" is no answer at all. Anything else is not
//! understood, and the resident is asked again: a re-prompt costs one text, a wrong answer
//! stays in the results.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::sms::fold::{fold, words};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Yes,
    No,
    /// "maybe", "not sure", "no sé": the resident has not decided.
    Unsure,
    /// "but", "pero", "except": what follows takes back some of what came before.
    Hedge,
    /// "not" / "don't": turns a following yes into a no ("not ok").
    Not,
}

use Marker::*;

/// How much a phrase says on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weight {
    /// "yes", "nope", "of course", "para nada": an answer wherever it leads.
    Strong,
    /// "I am", "I will", "right", "ya", "vale": an answer only when nothing but courtesy
    /// follows ("I am away…" and "right now I'm out" are not answers).
    Weak,
}

use Weight::*;

/// Phrases as folded words. Longer phrases win over shorter ones starting at the same word.
const PHRASES: &[(&str, Marker, Weight)] = &[
    ("yes", Yes, Strong),
    ("yeah", Yes, Strong),
    ("yea", Yes, Strong),
    ("yep", Yes, Strong),
    ("yup", Yes, Strong),
    ("yessir", Yes, Strong),
    ("sure", Yes, Strong),
    ("absolutely", Yes, Strong),
    ("definitely", Yes, Strong),
    ("certainly", Yes, Strong),
    ("affirmative", Yes, Strong),
    ("of course", Yes, Strong),
    ("for sure", Yes, Strong),
    ("i think so", Yes, Strong),
    ("no problem", Yes, Strong),
    ("si", Yes, Strong),
    ("sip", Yes, Strong),
    ("claro", Yes, Strong),
    ("claro que si", Yes, Strong),
    ("por supuesto", Yes, Strong),
    ("de acuerdo", Yes, Strong),
    ("afirmativo", Yes, Strong),
    ("ok", Yes, Weak),
    ("okay", Yes, Weak),
    ("okey", Yes, Weak),
    ("ya", Yes, Weak),
    ("k", Yes, Weak),
    ("kk", Yes, Weak),
    ("correct", Yes, Weak),
    ("right", Yes, Weak),
    ("exactly", Yes, Weak),
    ("indeed", Yes, Weak),
    ("true", Yes, Weak),
    ("i do", Yes, Weak),
    ("i did", Yes, Weak),
    ("i am", Yes, Weak),
    ("i will", Yes, Weak),
    ("i have", Yes, Weak),
    ("correcto", Yes, Weak),
    ("cierto", Yes, Weak),
    ("exacto", Yes, Weak),
    ("vale", Yes, Weak),
    ("dale", Yes, Weak),
    ("seguro", Yes, Weak),
    ("no", No, Strong),
    ("nope", No, Strong),
    ("nah", No, Strong),
    ("naw", No, Strong),
    ("nop", No, Strong),
    ("never", No, Strong),
    ("negative", No, Strong),
    ("not really", No, Strong),
    ("not at all", No, Strong),
    ("of course not", No, Strong),
    ("absolutely not", No, Strong),
    ("definitely not", No, Strong),
    ("certainly not", No, Strong),
    ("i don't think so", No, Strong),
    ("i dont think so", No, Strong),
    ("nunca", No, Strong),
    ("para nada", No, Strong),
    ("claro que no", No, Strong),
    ("por supuesto que no", No, Strong),
    ("negativo", No, Strong),
    ("false", No, Weak),
    ("wrong", No, Weak),
    ("incorrect", No, Weak),
    ("incorrecto", No, Weak),
    ("i don't", No, Weak),
    ("i dont", No, Weak),
    ("i do not", No, Weak),
    ("i didn't", No, Weak),
    ("i didnt", No, Weak),
    ("i did not", No, Weak),
    ("i'm not", No, Weak),
    ("im not", No, Weak),
    ("i am not", No, Weak),
    ("i won't", No, Weak),
    ("i wont", No, Weak),
    ("i will not", No, Weak),
    ("i haven't", No, Weak),
    ("i havent", No, Weak),
    ("i have not", No, Weak),
    ("not", Not, Strong),
    ("don't", Not, Strong),
    ("dont", Not, Strong),
    ("maybe", Unsure, Strong),
    ("perhaps", Unsure, Strong),
    ("possibly", Unsure, Strong),
    ("probably", Unsure, Strong),
    ("not sure", Unsure, Strong),
    ("unsure", Unsure, Strong),
    ("idk", Unsure, Strong),
    ("dunno", Unsure, Strong),
    ("don't know", Unsure, Strong),
    ("dont know", Unsure, Strong),
    ("i don't know", Unsure, Strong),
    ("i dont know", Unsure, Strong),
    ("i do not know", Unsure, Strong),
    ("i'm not sure", Unsure, Strong),
    ("im not sure", Unsure, Strong),
    ("i am not sure", Unsure, Strong),
    ("never mind", Unsure, Strong),
    ("nevermind", Unsure, Strong),
    ("nvm", Unsure, Strong),
    ("sometimes", Unsure, Strong),
    ("depends", Unsure, Strong),
    ("kind of", Unsure, Strong),
    ("kinda", Unsure, Strong),
    ("sort of", Unsure, Strong),
    ("sorta", Unsure, Strong),
    ("quizas", Unsure, Strong),
    ("quiza", Unsure, Strong),
    ("tal vez", Unsure, Strong),
    ("a lo mejor", Unsure, Strong),
    ("no se", Unsure, Strong),
    ("no lo se", Unsure, Strong),
    ("no estoy seguro", Unsure, Strong),
    ("no estoy segura", Unsure, Strong),
    ("a veces", Unsure, Strong),
    ("depende", Unsure, Strong),
    ("mas o menos", Unsure, Strong),
    ("but", Hedge, Strong),
    ("except", Hedge, Strong),
    ("unless", Hedge, Strong),
    ("although", Hedge, Strong),
    ("though", Hedge, Strong),
    ("only if", Hedge, Strong),
    ("pero", Hedge, Strong),
    ("excepto", Hedge, Strong),
    ("salvo", Hedge, Strong),
    ("aunque", Hedge, Strong),
    ("solo si", Hedge, Strong),
];

/// Words a reply may open with before its answer ("well, yes", "um no", "bueno, sí").
const OPENERS: &[&str] = &[
    "um", "umm", "uh", "uhh", "hmm", "hm", "mm", "mmm", "well", "oh", "ah", "eh", "hey", "so",
    "bueno", "pues", "este", "ay",
];

/// Courtesy that may follow an answer without changing it ("yes please", "I am, thanks").
const COURTESY: &[&str] = &[
    "please", "pls", "plz", "thanks", "thank", "you", "thx", "ty", "sir", "ma'am", "maam", "lol",
    "haha", "gracias", "muchas", "por", "favor", "senor", "senora", "senorita",
];

/// Short replies that mean yes or no only when they are the whole reply ("y" is Spanish "and").
const WHOLE_REPLIES: &[(&str, bool)] = &[("y", true), ("s", true), ("n", false)];

/// A phrase's words, what it says and how much.
type Phrase = (Vec<&'static str>, Marker, Weight);

/// Phrases indexed by their first word, longest first.
static BY_FIRST_WORD: LazyLock<HashMap<&'static str, Vec<Phrase>>> = LazyLock::new(|| {
    let mut map: HashMap<&str, Vec<Phrase>> = HashMap::new();
    for &(phrase, marker, weight) in PHRASES {
        let ws: Vec<&str> = phrase.split(' ').collect();
        map.entry(ws[0]).or_default().push((ws, marker, weight));
    }
    for list in map.values_mut() {
        list.sort_by_key(|(ws, _, _)| std::cmp::Reverse(ws.len()));
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

fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        ',' | '.' | ';' | ':' | '!' | '?' | '¡' | '¿' | '…' | '(' | ')' | '"' | '/'
    )
}

/// One piece of a reply, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Said(Marker, Weight),
    Opener,
    Courtesy,
    /// Any other word: "away", "phone", "tonight".
    Other,
}

fn tokens(ws: &[&str]) -> Vec<Token> {
    let mut out = Vec::with_capacity(ws.len());
    let mut i = 0;
    while i < ws.len() {
        let phrase = BY_FIRST_WORD.get(ws[i]).and_then(|candidates| {
            candidates
                .iter()
                .find(|(phrase, _, _)| ws[i..].starts_with(phrase))
                .map(|(phrase, marker, weight)| (phrase.len(), *marker, *weight))
        });
        let stretched = || {
            let list = BY_FIRST_WORD.get(unstretched(ws[i])?)?;
            let (_, marker, weight) = list.iter().find(|(p, _, _)| p.len() == 1)?;
            Some((1, *marker, *weight))
        };
        let (len, token) = match phrase.or_else(stretched) {
            Some((len, marker, weight)) => (len, Token::Said(marker, weight)),
            None if OPENERS.contains(&ws[i]) => (1, Token::Opener),
            None if COURTESY.contains(&ws[i]) => (1, Token::Courtesy),
            None => (1, Token::Other),
        };
        // "not ok", "don't agree" style: a yes right after a negation is a no.
        if let (Token::Said(Yes, _), Some(Token::Said(Not, _))) = (token, out.last()) {
            out.pop();
            out.push(Token::Said(No, Strong));
        } else {
            out.push(token);
        }
        i += len;
    }
    out
}

/// Whether the reply says yes (`Some(true)`) or no (`Some(false)`): "yes", "Yes I do", "yep",
/// "👍", "of course", "sí", "claro", "por supuesto", "vale" / "no thanks", "nope", "not really",
/// "never", "👎", "nunca", "para nada". `None` for replies that say neither ("I am away from
/// my phone"), both ("yes no", "not really yes"), or hedge ("maybe", "yes but", "no sé").
///
/// ```
/// use civictext::flow::answers::yesno::parse_yes_no;
/// assert_eq!(parse_yes_no("¡Sí, claro!"), Some(true));
/// assert_eq!(parse_yes_no("no thanks"), Some(false));
/// assert_eq!(parse_yes_no("yes no"), None);
/// assert_eq!(parse_yes_no("I am away from my phone, will reply later"), None);
/// ```
pub fn parse_yes_no(reply: &str) -> Option<bool> {
    let folded = fold(reply);
    let drawn: Vec<Marker> = reply.chars().filter_map(emoji_marker).collect();
    if let Some(&(_, answer)) = WHOLE_REPLIES.iter().find(|(w, _)| *w == folded) {
        // Folding drops emoji: "👎 y" is a thumbs-down and a letter, not a plain "y".
        let said = if answer { Yes } else { No };
        return drawn.iter().all(|m| *m == said).then_some(answer);
    }
    // A phrase never runs across punctuation: "no, problem is…" is not "no problem".
    let toks: Vec<Token> = folded
        .split(is_clause_break)
        .flat_map(|clause| tokens(&words(clause)))
        .collect();
    if toks
        .iter()
        .any(|t| matches!(t, Token::Said(Unsure | Hedge, _)))
    {
        return None;
    }
    // A weak phrase ("I am", "right") is an answer only when nothing but courtesy or more of
    // the answer follows it.
    let closed = |at: usize| {
        toks[at + 1..]
            .iter()
            .all(|t| matches!(t, Token::Courtesy | Token::Said(Yes | No, _)))
    };
    let lead = toks
        .iter()
        .position(|t| !matches!(t, Token::Opener | Token::Courtesy));
    let answer = match lead.map(|at| (at, toks[at])) {
        // Only openers and courtesy (or nothing): the drawn answer, if there is one.
        None => *drawn.first()?,
        Some((_, Token::Said(m @ (Yes | No), Strong))) => m,
        Some((at, Token::Said(m @ (Yes | No), Weak))) if closed(at) => m,
        Some(_) => return None,
    };
    let lead = lead.unwrap_or(toks.len());
    for (at, t) in toks.iter().enumerate().skip(lead + 1) {
        if let Token::Said(m @ (Yes | No), weight) = *t
            && m != answer
            && (weight == Strong || closed(at))
        {
            return None;
        }
    }
    if drawn.iter().any(|m| *m != answer) {
        return None;
    }
    Some(answer == Yes)
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
            "y",
            "YES!!",
            "yeah",
            "Yeah!",
            "yep",
            "yup",
            "sure",
            "sure thing",
            "ok",
            "Okay",
            "ok thanks",
            "correct",
            "right",
            "absolutely",
            "of course",
            "for sure",
            "👍",
            "👍🏽",
            "yes please",
            "Yes please!",
            "Yes I do",
            "yes, I am",
            "I am",
            "I will!",
            "I do, thank you",
            "yesss",
            "well, yes",
            "um yeah",
            "oh yes 👍",
            "Yes, I feel safe",
            "yes it's fine",
            "no problem",
            "sí",
            "Si",
            "¡Sí!",
            "sí, por favor",
            "si gracias",
            "claro",
            "claro que sí",
            "¡Claro que sí!",
            "por supuesto",
            "correcto",
            "vale",
            "dale",
            "ya",
            "siii",
            "bueno, sí",
            "de acuerdo",
            "✅",
            "I think so",
        ] {
            assert_eq!(parse_yes_no(reply), Some(true), "{reply:?}");
        }
    }

    #[test]
    fn english_and_spanish_noes_say_no() {
        for reply in [
            "no",
            "N",
            "n",
            "NO.",
            "nope",
            "Nope!",
            "nah",
            "naw",
            "not really",
            "Not really.",
            "never",
            "👎",
            "no thanks",
            "No, thanks",
            "no thank you",
            "nooo",
            "No, I don't",
            "I don't",
            "I'm not",
            "no, it's too dark",
            "Nope, not at night",
            "of course not",
            "absolutely not",
            "not at all",
            "not ok",
            "I don't think so",
            "um no",
            "nunca",
            "para nada",
            "claro que no",
            "no gracias",
            "No, gracias",
            "por supuesto que no",
            "❌",
        ] {
            assert_eq!(parse_yes_no(reply), Some(false), "{reply:?}");
        }
    }

    #[test]
    fn a_reply_that_is_about_something_else_is_not_an_answer() {
        for reply in [
            "I am away from my phone, will reply later",
            "I will reply later",
            "I'm busy",
            "I am at work",
            "I have a question",
            "I do not know what you mean",
            "right now I'm driving",
            "ok I'll answer later",
            "okay who is this",
            "ya voy",
            "vale la pena preguntar",
            "true story",
            "never mind",
            "nvm",
            "who is this?",
            "not tonight",
            "hello",
            "the park",
            "y tu?",
            "yesterday",
            "nothing",
            "2",
            "",
            "   ",
            "🎉",
            "thanks",
            "gracias",
        ] {
            assert_eq!(parse_yes_no(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn contradictory_replies_are_not_guessed() {
        for reply in [
            "yes no",
            "yes and no",
            "Yes but no",
            "yes, but only in summer",
            "no but yes",
            "not really yes",
            "Not really, yes",
            "yeah no",
            "no yeah",
            "sure, never",
            "nope yes",
            "sí y no",
            "si pero no",
            "no, sí",
            "claro que no, sí",
            "👍 no",
            "yes 👎",
            "👎 y",
            "👍 n",
            "no... yes",
            "No, I am",
            "yes, I don't",
        ] {
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
            "depends",
            "kind of",
            "no sé",
            "no lo sé",
            "tal vez",
            "quizás",
            "a veces",
            "depende",
            "más o menos",
            "sometimes",
            "maybe yes",
            "yes, probably",
            "sí, a veces",
        ] {
            assert_eq!(parse_yes_no(reply), None, "{reply:?}");
        }
    }

    /// Words that say yes or no on their own, whatever surrounds them. Left out: "absolutely",
    /// "definitely", "certainly", "of course" (followed by "not", they are one no: "absolutely
    /// not"), and "no" before "problem" or "se" (a yes and a hedge).
    const YES_WORDS: &[&str] = &[
        "yes",
        "Yes",
        "YES",
        "yeah",
        "yep",
        "yup",
        "sure",
        "sí",
        "si",
        "Sí",
        "claro",
        "👍",
        "por supuesto",
        "yesss",
        "for sure",
    ];
    const NO_WORDS: &[&str] = &[
        "no",
        "No",
        "NO",
        "nope",
        "nah",
        "never",
        "not really",
        "not at all",
        "nunca",
        "para nada",
        "👎",
        "nooo",
        "negativo",
    ];
    const OTHER_WORDS: &[&str] = &[
        "please", "thanks", "gracias", "I", "am", "will", "the", "park", "at", "night", "and", "y",
        "well", "um", "it", "is", "dark", "safe", "really", "lol", "🙂", "1", "bus",
    ];

    fn word(from: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::sample::select(from).prop_map(str::to_string)
    }

    fn separator() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(&[" ", ", ", "! ", "... ", " - ", "\n", "  "][..])
    }

    /// A sentence of filler with at least one yes word and one no word in it, anywhere.
    fn mixed_sentence() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(word(OTHER_WORDS), 0..6),
            word(YES_WORDS),
            word(NO_WORDS),
            proptest::collection::vec(prop_oneof![word(YES_WORDS), word(NO_WORDS)], 0..3),
            any::<proptest::sample::Index>(),
            any::<proptest::sample::Index>(),
            proptest::collection::vec(separator(), 16),
        )
            .prop_map(|(mut ws, yes, no, extra, i, j, seps)| {
                ws.insert(i.index(ws.len() + 1), yes);
                ws.insert(j.index(ws.len() + 1), no);
                ws.extend(extra);
                let mut out = String::new();
                for (n, w) in ws.iter().enumerate() {
                    if n > 0 {
                        out.push_str(seps[n % seps.len()]);
                    }
                    out.push_str(w);
                }
                out
            })
    }

    proptest! {
        #[test]
        fn a_sentence_mixing_yes_and_no_words_is_never_a_confident_answer(s in mixed_sentence()) {
            prop_assert_eq!(parse_yes_no(&s), None, "{:?}", s);
        }

        #[test]
        fn a_yes_word_among_other_words_is_never_read_as_no(
            before in proptest::collection::vec(word(OTHER_WORDS), 0..4),
            yes in word(YES_WORDS),
            after in proptest::collection::vec(word(OTHER_WORDS), 0..4),
        ) {
            let s = [before, vec![yes], after].concat().join(" ");
            prop_assert_ne!(parse_yes_no(&s), Some(false), "{:?}", s);
        }

        #[test]
        fn a_no_word_among_other_words_is_never_read_as_yes(
            before in proptest::collection::vec(word(OTHER_WORDS), 0..4),
            no in word(NO_WORDS),
            after in proptest::collection::vec(word(OTHER_WORDS), 0..4),
        ) {
            let s = [before, vec![no], after].concat().join(" ");
            prop_assert_ne!(parse_yes_no(&s), Some(true), "{:?}", s);
        }

        #[test]
        fn any_text_is_handled_without_panicking(s in "\\PC*|(?s).{0,1600}") {
            let _ = parse_yes_no(&s);
        }
    }
}
