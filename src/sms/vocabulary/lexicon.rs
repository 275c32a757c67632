//! The vocabulary files (one per language, embedded in the binary) and what they hold once read:
//! every entry expanded into the word sequences it stands for.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// The built-in vocabulary files, `(file name, contents)`. A language is added by writing its
/// file beside these and listing it here (docs/operations.md, "Adding a language").
pub const FILES: &[(&str, &str)] = &[
    ("en.toml", include_str!("en.toml")),
    ("es.toml", include_str!("es.toml")),
];

/// A phrase as the words it matches, in order.
pub type Phrase = Vec<String>;

/// One language's vocabulary, expanded.
#[derive(Debug, Clone)]
pub struct Language {
    /// Language code, such as `en`.
    pub code: String,
    /// Opt-out phrases that count when they are the whole message.
    pub opt_out_whole: Vec<Phrase>,
    /// Opt-out phrases that count as a clause of their own.
    pub opt_out_clause: Vec<Phrase>,
    /// Opt-out phrases that count anywhere, unless negated.
    pub opt_out_anywhere: Vec<Phrase>,
    /// Words that may be a request to stop inside an answer.
    pub ambiguous: Vec<Phrase>,
    /// Uses of ambiguous words that are never requests.
    pub not_a_request: Vec<Phrase>,
    pub opt_in_whole: Vec<Phrase>,
    pub opt_in_if_opted_out: Vec<Phrase>,
    pub help_whole: Vec<Phrase>,
    pub filler: Vec<Phrase>,
    pub negations: Vec<Phrase>,
    pub signatures: Vec<Phrase>,
    /// Words also matched with one edit.
    pub fuzzy: Vec<String>,
    /// Misspelling → the word it stands for.
    pub spellings: BTreeMap<String, String>,
}

/// Every language, in the order of [`FILES`].
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub languages: Vec<Language>,
    /// Every language's misspellings together: a resident's typo is read the same way whatever
    /// language the rest of the message is in.
    pub spellings: HashMap<String, String>,
    /// Every language's fuzzy words together.
    pub fuzzy: Vec<String>,
}

/// Why a vocabulary file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error("{file}: {source}")]
    Toml {
        file: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{file}: entry {entry:?}: {problem}")]
    Entry {
        file: String,
        entry: String,
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    language: String,
    opt_out: OptOutSection,
    opt_in: OptInSection,
    help: HelpSection,
    words: WordsSection,
    #[serde(default)]
    spellings: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptOutSection {
    whole: Vec<String>,
    #[serde(default)]
    clause: Vec<String>,
    #[serde(default)]
    anywhere: Vec<String>,
    #[serde(default)]
    ambiguous: Vec<String>,
    #[serde(default)]
    not_a_request: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptInSection {
    whole: Vec<String>,
    #[serde(default)]
    if_opted_out: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HelpSection {
    whole: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WordsSection {
    #[serde(default)]
    filler: Vec<String>,
    #[serde(default)]
    negations: Vec<String>,
    #[serde(default)]
    signatures: Vec<String>,
    #[serde(default)]
    fuzzy: Vec<String>,
}

/// Expands one entry: `(word)` may be left out, `a|b` is either. "stop (sending) me" gives
/// "stop me" and "stop sending me".
pub fn expand(entry: &str) -> Result<Vec<Phrase>, String> {
    let mut out: Vec<Phrase> = vec![Vec::new()];
    for part in entry.split(' ') {
        let (optional, inner) = match part.strip_prefix('(') {
            Some(rest) => match rest.strip_suffix(')') {
                Some(inner) => (true, inner),
                None => return Err(format!("unclosed parenthesis in {part:?}")),
            },
            None => (false, part),
        };
        if inner.is_empty() || inner.contains(['(', ')']) {
            return Err(format!("{part:?} is not a word, `(word)` or `a|b`"));
        }
        let mut choices: Vec<Option<&str>> = inner.split('|').map(Some).collect();
        if choices.iter().any(|c| c.is_some_and(str::is_empty)) {
            return Err(format!("empty alternative in {part:?}"));
        }
        if optional {
            choices.insert(0, None);
        }
        out = out
            .into_iter()
            .flat_map(|prefix| {
                choices.iter().map(move |c| {
                    let mut p = prefix.clone();
                    if let Some(word) = c {
                        p.push((*word).to_string());
                    }
                    p
                })
            })
            .collect();
    }
    if out.iter().any(Vec::is_empty) {
        return Err("the entry has no words when its optional words are left out".into());
    }
    Ok(out)
}

fn expand_all(file: &str, entries: &[String]) -> Result<Vec<Phrase>, LexiconError> {
    let mut out = Vec::new();
    for entry in entries {
        let phrases = expand(entry).map_err(|problem| LexiconError::Entry {
            file: file.into(),
            entry: entry.clone(),
            problem,
        })?;
        out.extend(phrases);
    }
    Ok(out)
}

/// Reads one vocabulary file.
pub fn parse(file: &str, text: &str) -> Result<Language, LexiconError> {
    let raw: File = toml::from_str(text).map_err(|source| LexiconError::Toml {
        file: file.into(),
        source,
    })?;
    let mut spellings = BTreeMap::new();
    for (word, variants) in &raw.spellings {
        for v in variants {
            spellings.insert(v.clone(), word.clone());
        }
    }
    Ok(Language {
        code: raw.language,
        opt_out_whole: expand_all(file, &raw.opt_out.whole)?,
        opt_out_clause: expand_all(file, &raw.opt_out.clause)?,
        opt_out_anywhere: expand_all(file, &raw.opt_out.anywhere)?,
        ambiguous: expand_all(file, &raw.opt_out.ambiguous)?,
        not_a_request: expand_all(file, &raw.opt_out.not_a_request)?,
        opt_in_whole: expand_all(file, &raw.opt_in.whole)?,
        opt_in_if_opted_out: expand_all(file, &raw.opt_in.if_opted_out)?,
        help_whole: expand_all(file, &raw.help.whole)?,
        filler: expand_all(file, &raw.words.filler)?,
        negations: expand_all(file, &raw.words.negations)?,
        signatures: expand_all(file, &raw.words.signatures)?,
        fuzzy: raw.words.fuzzy,
        spellings,
    })
}

/// Reads every built-in file.
pub fn load() -> Result<Lexicon, LexiconError> {
    let mut languages = Vec::new();
    for (file, text) in FILES {
        languages.push(parse(file, text)?);
    }
    let spellings = languages
        .iter()
        .flat_map(|l| l.spellings.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    let fuzzy = languages.iter().flat_map(|l| l.fuzzy.clone()).collect();
    Ok(Lexicon {
        languages,
        spellings,
        fuzzy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Phrase {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn an_entry_expands_into_every_combination_of_its_options() {
        assert_eq!(
            expand("stop (sending) me").unwrap(),
            vec![words(&["stop", "me"]), words(&["stop", "sending", "me"])]
        );
        assert_eq!(
            expand("stop texts|messages").unwrap(),
            vec![words(&["stop", "texts"]), words(&["stop", "messages"])]
        );
        assert_eq!(expand("(the|a) end").unwrap().len(), 3);
    }

    #[test]
    fn a_malformed_entry_is_refused_with_the_reason() {
        assert!(expand("stop (sending").unwrap_err().contains("unclosed"));
        assert!(
            expand("stop a||b")
                .unwrap_err()
                .contains("empty alternative")
        );
        assert!(expand("(maybe)").unwrap_err().contains("no words"));
    }

    #[test]
    fn every_built_in_file_reads_and_is_named_for_its_language() {
        let lexicon = load().expect("the built-in vocabulary reads");
        for ((file, _), language) in FILES.iter().zip(&lexicon.languages) {
            assert_eq!(*file, format!("{}.toml", language.code));
            assert!(
                !language.opt_out_whole.is_empty(),
                "{file}: no opt-out words"
            );
            assert!(!language.help_whole.is_empty(), "{file}: no help words");
        }
    }
}
