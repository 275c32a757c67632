//! Multiple-choice answers: "2", "b", "Monthly", "mensual", "I go monthly".
//!
//! Choices are shown numbered ("1. Weekly\n2. Monthly\n3. Never"). A reply is tried, in order,
//! as: an option's phrase (any language label, synonym or the key itself, folded); a number in
//! range ("2", "2.", "#2", "two", "2nd", "second"); a single letter ("b", "B)", "(b)"; only with
//! 26 options or fewer); the same number or letter after dropping filler words ("option 2",
//! "I'd say 2", "creo que 2", "la 2", "opción b"); and finally the one option whose phrase
//! appears in the reply as whole words ("I go monthly"). When two options fit equally
//! ("weekly or monthly"), or the reply negates ("not monthly"), nothing is picked.
//!
//! A label that is itself a number ("5+", "1-2 times") matches by its text first, so a
//! resident who types what they read gets it; a number that is also another option's position
//! is read as the label.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::flow::answers::number::number_word;
use crate::sms::fold::{fold, words};

/// One option as staff wrote it.
#[derive(Debug, Clone)]
pub struct ChoiceOption {
    /// The stored value ("monthly"); also accepted as a reply.
    pub key: String,
    /// labels in every language + synonyms, as written by staff
    pub phrases: Vec<String>,
}

/// The options of one question, folded once for fast matching.
#[derive(Debug, Clone)]
pub struct ChoiceSet {
    keys: Vec<String>,
    /// Canonical phrase ("cada mes") → the options that have it.
    exact: HashMap<String, Vec<usize>>,
    /// First word of a phrase → (option, all the phrase's words), for whole-word containment.
    by_first_word: HashMap<String, Vec<(usize, Vec<String>)>>,
}

/// Words that carry no choice of their own around a number or letter ("option 2",
/// "creo que la b"). Folded.
const FILLER: &[&str] = &[
    "option",
    "opt",
    "choice",
    "number",
    "num",
    "nr",
    "letter",
    "answer",
    "i",
    "i'd",
    "id",
    "i'm",
    "im",
    "say",
    "said",
    "pick",
    "choose",
    "select",
    "go",
    "with",
    "will",
    "would",
    "think",
    "guess",
    "probably",
    "maybe",
    "definitely",
    "prob",
    "please",
    "pls",
    "plz",
    "thanks",
    "thank",
    "you",
    "thx",
    "the",
    "my",
    "is",
    "it's",
    "its",
    "it",
    "be",
    "ok",
    "okay",
    "um",
    "uh",
    "hmm",
    "well",
    "like",
    "want",
    "take",
    "vote",
    "for",
    "creo",
    "que",
    "la",
    "el",
    "opcion",
    "numero",
    "letra",
    "respuesta",
    "mi",
    "es",
    "seria",
    "digo",
    "diria",
    "elijo",
    "escojo",
    "quiero",
    "voto",
    "por",
    "favor",
    "gracias",
    "pues",
    "bueno",
    "probablemente",
    "quizas",
    "tal",
    "vez",
    "yo",
    "eh",
];

/// Words that make a phrase found inside a longer reply untrustworthy ("not monthly").
const NEGATIONS: &[&str] = &[
    "not", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "no", "nor", "neither",
    "except", "ni",
];

/// Ordinal words (folded) and the position they name.
const ORDINALS: &[(&str, usize)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("primero", 1),
    ("primera", 1),
    ("primer", 1),
    ("segundo", 2),
    ("segunda", 2),
    ("tercero", 3),
    ("tercera", 3),
    ("tercer", 3),
    ("cuarto", 4),
    ("cuarta", 4),
    ("quinto", 5),
    ("quinta", 5),
];

/// Replies longer than this many words are not searched for a phrase: nobody picks an option
/// in a paragraph, and the search must stay cheap.
const MAX_CONTAINMENT_WORDS: usize = 60;

static FILLER_SET: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| FILLER.iter().copied().collect());

/// What a single word says about a position.
enum Position {
    /// A 1-based position ("2", "two", "2nd", "second").
    Number(usize),
    /// A letter ("b").
    Letter(usize),
    /// Not a position.
    Other,
}

fn position(word: &str) -> Position {
    if let Some(&(_, n)) = ORDINALS.iter().find(|(w, _)| *w == word) {
        return Position::Number(n);
    }
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(
            suffix,
            "" | "st" | "nd" | "rd" | "th" | "o" | "a" | "er" | "ro"
        )
    {
        // Anything with more than four digits is out of range for any question.
        return Position::Number(if digits.len() > 4 {
            usize::MAX
        } else {
            digits.parse().unwrap_or(usize::MAX)
        });
    }
    if let Some(n) = number_word(word) {
        return Position::Number(n as usize);
    }
    let mut chars = word.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && c.is_ascii_lowercase()
    {
        return Position::Letter(c as usize - 'a' as usize + 1);
    }
    Position::Other
}

/// A phrase's canonical form: its folded words joined by single spaces.
fn canonical(text: &str) -> Vec<String> {
    words(&fold(text)).into_iter().map(str::to_string).collect()
}

impl ChoiceSet {
    /// Folds every phrase and key once. Options keep their order: the first is "1" and "a".
    pub fn new(options: Vec<ChoiceOption>) -> Self {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_first_word: HashMap<String, Vec<(usize, Vec<String>)>> = HashMap::new();
        let mut keys = Vec::with_capacity(options.len());
        for (index, option) in options.into_iter().enumerate() {
            let key_as_words = option.key.replace('_', " ");
            let texts = option
                .phrases
                .iter()
                .map(String::as_str)
                .chain([option.key.as_str(), key_as_words.as_str()]);
            for text in texts {
                let ws = canonical(text);
                let Some(first) = ws.first().cloned() else {
                    continue;
                };
                let owners = exact.entry(ws.join(" ")).or_default();
                if owners.contains(&index) {
                    continue;
                }
                owners.push(index);
                by_first_word.entry(first).or_default().push((index, ws));
            }
            keys.push(option.key);
        }
        ChoiceSet {
            keys,
            exact,
            by_first_word,
        }
    }

    /// How many options there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no options at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key of the option at `index` (0-based), as returned by [`ChoiceSet::match_reply`].
    ///
    /// # Panics
    /// If `index` is not below [`ChoiceSet::len`].
    pub fn key(&self, index: usize) -> &str {
        &self.keys[index]
    }

    /// The 0-based index of the option the reply picks, or `None` if no option fits or more than
    /// one does.
    ///
    /// ```
    /// use civictext::flow::answers::choice::{ChoiceOption, ChoiceSet};
    /// let set = ChoiceSet::new(vec![
    ///     ChoiceOption { key: "weekly".into(), phrases: vec!["Weekly".into(), "Cada semana".into()] },
    ///     ChoiceOption { key: "monthly".into(), phrases: vec!["Monthly".into(), "Mensual".into()] },
    /// ]);
    /// assert_eq!(set.match_reply("2"), Some(1));
    /// assert_eq!(set.match_reply("b"), Some(1));
    /// assert_eq!(set.match_reply("¡Mensual!"), Some(1));
    /// assert_eq!(set.match_reply("I go monthly"), Some(1));
    /// assert_eq!(set.match_reply("weekly or monthly"), None);
    /// ```
    pub fn match_reply(&self, reply: &str) -> Option<usize> {
        let folded = fold(reply);
        let ws = words(&folded);
        if ws.is_empty() {
            return None;
        }
        if let Some(owners) = self.exact.get(&ws.join(" ")) {
            return match owners.as_slice() {
                [only] => Some(*only),
                _ => None,
            };
        }
        if let [word] = ws.as_slice()
            && let Some(picked) = self.by_position(word)
        {
            return picked;
        }
        let mut rest = ws.iter().filter(|w| !FILLER_SET.contains(**w));
        match (rest.next(), rest.next(), rest.next()) {
            (Some(word), None, _) => {
                if let Some(picked) = self.by_position(word) {
                    return picked;
                }
            }
            // "the second one", "la segunda opcion"
            (Some(word), Some(&"one" | &"uno" | &"una"), None) => {
                if let Some(n) = ORDINALS.iter().find(|(w, _)| w == word).map(|&(_, n)| n) {
                    return self.in_range(n);
                }
            }
            _ => {}
        }
        self.by_containment(&ws)
    }

    /// `Some(answer)` when the word names a position (in range or not), `None` otherwise.
    fn by_position(&self, word: &str) -> Option<Option<usize>> {
        match position(word) {
            Position::Number(n) => Some(self.in_range(n)),
            Position::Letter(n) if self.len() <= 26 => Some(self.in_range(n)),
            _ => None,
        }
    }

    fn in_range(&self, one_based: usize) -> Option<usize> {
        (1..=self.len()).contains(&one_based).then(|| one_based - 1)
    }

    /// The one option whose phrase appears in the reply as whole words. A phrase found inside a
    /// longer phrase of another option does not count ("cada mes" holds "mes").
    fn by_containment(&self, ws: &[&str]) -> Option<usize> {
        if ws.len() > MAX_CONTAINMENT_WORDS {
            return None;
        }
        let mut hits: Vec<(usize, usize, usize)> = Vec::new();
        for (start, word) in ws.iter().enumerate() {
            for (option, phrase) in self.by_first_word.get(*word).into_iter().flatten() {
                let fits = phrase.len() <= ws.len() - start
                    && phrase.iter().zip(&ws[start..]).all(|(p, w)| p == w);
                if fits {
                    hits.push((*option, start, start + phrase.len()));
                }
            }
        }
        let outer = |&&(option, start, end): &&(usize, usize, usize)| {
            !hits
                .iter()
                .any(|&(o, s, e)| o != option && s <= start && end <= e && (s, e) != (start, end))
        };
        let mut kept = hits.iter().filter(outer);
        let &(picked, _, _) = kept.next()?;
        if kept.any(|&(o, _, _)| o != picked) {
            return None;
        }
        let negated = ws.iter().enumerate().any(|(i, w)| {
            NEGATIONS.contains(w)
                && !hits
                    .iter()
                    .any(|&(o, s, e)| o == picked && (s..e).contains(&i))
        });
        (!negated).then_some(picked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn option(key: &str, phrases: &[&str]) -> ChoiceOption {
        ChoiceOption {
            key: key.to_string(),
            phrases: phrases.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn visits() -> ChoiceSet {
        ChoiceSet::new(vec![
            option("weekly", &["Weekly", "Cada semana", "every week"]),
            option(
                "monthly",
                &["Monthly", "Cada mes", "Mensual", "once a month"],
            ),
            option("never", &["Never", "Nunca"]),
        ])
    }

    #[test]
    fn replies_that_pick_the_second_option() {
        let set = visits();
        for reply in [
            "2",
            "2.",
            "#2",
            "2)",
            "b",
            "B)",
            "(b)",
            "B",
            "option 2",
            "number 2",
            "I'd say 2",
            "probably 2",
            "2 please",
            "Monthly",
            "monthly!",
            "MONTHLY",
            "Mensual",
            "mensual",
            "cada mes",
            "Cada mes.",
            "once a month",
            "I go monthly",
            "creo que 2",
            "la 2",
            "opción b",
            "Opcion B",
            "two",
            "dos",
            "2nd",
            "second",
            "the second one",
            "la segunda",
            "2️⃣",
            "  2  ",
            "monthly 👍",
        ] {
            assert_eq!(set.match_reply(reply), Some(1), "{reply:?}");
        }
    }

    #[test]
    fn a_spanish_label_picks_its_choice() {
        let set = visits();
        assert_eq!(set.match_reply("Cada semana"), Some(0));
        assert_eq!(set.match_reply("Nunca"), Some(2));
        assert_eq!(set.match_reply("nunca"), Some(2));
        assert_eq!(set.match_reply("¡NUNCA!"), Some(2));
    }

    #[test]
    fn the_key_itself_is_a_reply() {
        let set = ChoiceSet::new(vec![
            option("pot_hole", &["Bache"]),
            option("streetlight", &["Luz"]),
        ]);
        assert_eq!(set.match_reply("pot_hole"), Some(0));
        assert_eq!(set.match_reply("pot hole"), Some(0));
        assert_eq!(set.match_reply("Streetlight"), Some(1));
        assert_eq!(set.key(0), "pot_hole");
        assert_eq!(set.len(), 2);
        assert!(!set.is_empty());
    }

    #[test]
    fn two_options_in_one_reply_are_ambiguous() {
        let set = visits();
        for reply in [
            "weekly or monthly",
            "weekly, monthly",
            "2 or 3",
            "b or c",
            "a b",
        ] {
            assert_eq!(set.match_reply(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn a_negated_option_is_not_picked() {
        let set = visits();
        assert_eq!(set.match_reply("not monthly"), None);
        assert_eq!(set.match_reply("I don't go weekly"), None);
    }

    #[test]
    fn a_phrase_inside_a_longer_phrase_of_another_option_yields_to_it() {
        let set = ChoiceSet::new(vec![
            option("month", &["mes"]),
            option("each", &["cada mes"]),
        ]);
        assert_eq!(set.match_reply("voy cada mes"), Some(1));
        assert_eq!(set.match_reply("un mes"), Some(0));
    }

    #[test]
    fn positions_out_of_range_pick_nothing() {
        let set = visits();
        for reply in [
            "7",
            "0",
            "d",
            "z",
            "option 7",
            "99999999999999999999",
            "tenth",
        ] {
            assert_eq!(set.match_reply(reply), None, "{reply:?}");
        }
    }

    #[test]
    fn numeric_labels_still_match_by_their_text() {
        let set = ChoiceSet::new(vec![
            option("none", &["0"]),
            option("few", &["1-2 times"]),
            option("some", &["3-4 times"]),
            option("many", &["5+"]),
        ]);
        assert_eq!(set.match_reply("1-2 times"), Some(1));
        assert_eq!(set.match_reply("3-4 times"), Some(2));
        assert_eq!(set.match_reply("5+"), Some(3));
        assert_eq!(set.match_reply("5"), Some(3));
        assert_eq!(set.match_reply("I'd say 1-2 times"), Some(1));
        assert_eq!(set.match_reply("2"), Some(1));
        assert_eq!(set.match_reply("0"), Some(0));
    }

    #[test]
    fn letters_are_positions_only_up_to_twenty_six_options() {
        let many: Vec<ChoiceOption> = (0..27)
            .map(|i| option(&format!("k{i}"), &[&format!("Place {i}")]))
            .collect();
        let set = ChoiceSet::new(many);
        assert_eq!(set.match_reply("b"), None);
        assert_eq!(set.match_reply("27"), Some(26));
        assert_eq!(set.match_reply("place 5"), Some(5));
    }

    #[test]
    fn the_same_phrase_on_two_options_picks_neither() {
        let set = ChoiceSet::new(vec![option("a", &["Maybe"]), option("b", &["maybe"])]);
        assert_eq!(set.match_reply("maybe"), None);
    }

    #[test]
    fn replies_with_nothing_to_match_pick_nothing() {
        let set = visits();
        for reply in ["", "   ", "🎉🎉", "hello", "what?", "daily", "option", "la"] {
            assert_eq!(set.match_reply(reply), None, "{reply:?}");
        }
        let empty = ChoiceSet::new(Vec::new());
        assert!(empty.is_empty());
        assert_eq!(empty.match_reply("1"), None);
        assert_eq!(empty.match_reply("a"), None);
    }

    proptest! {
        #[test]
        fn any_text_is_handled_without_panicking(s in "\\PC*|(?s).{0,1600}|([a-z0-9]{1,3} ){0,80}") {
            let set = visits();
            if let Some(i) = set.match_reply(&s) {
                prop_assert!(i < set.len());
            }
        }

        #[test]
        fn any_labels_are_handled_without_panicking(labels in proptest::collection::vec("\\PC{0,12}", 0..6), s in "\\PC{0,20}") {
            let set = ChoiceSet::new(labels.iter().map(|l| option(l, &[l.as_str()])).collect());
            if let Some(i) = set.match_reply(&s) {
                prop_assert!(i < set.len());
            }
        }
    }
}
