//! A flow file exactly as written: serde types that remember the line and column of every value,
//! so that `flows check` can point a clerk at the place to fix.
//!
//! Nothing here judges meaning; [`super::compile`] turns a [`RawFlow`] into a checked
//! [`super::model::Flow`]. Values that may be written in two shapes ("a text, or a text per
//! language") have hand-written visitors: serde's untagged enums would lose the locations.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A value with the place it was written.
pub type S<T> = Spanned<T>;

/// The top level of a flow file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    pub flow: S<String>,
    pub title: Option<S<String>>,
    pub description: Option<S<String>>,
    pub keywords: Option<S<RawKeywords>>,
    pub languages: Option<S<Vec<S<String>>>>,
    pub expires_after: Option<S<String>>,
    /// How long a question may go unanswered before the resident is reminded once.
    pub remind_after: Option<S<String>>,
    /// The reminder's text (every question's, unless a step gives its own).
    pub reminder: Option<S<RawText>>,
    /// The text sent when a session expires unanswered (none: it ends quietly).
    pub on_expire: Option<S<RawText>>,
    pub interruptible: Option<S<bool>>,
    pub region: Option<S<String>>,
    pub date_order: Option<S<String>>,
    pub steps: S<Vec<S<RawStep>>>,
}

/// One step. Exactly one of `say`, `ask`, `goto`, `branch`, `end`, `file_request` must be set;
/// the compiler says so when it is not.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: Option<S<String>>,
    pub when: Option<S<String>>,
    pub say: Option<S<RawText>>,
    pub ask: Option<S<String>>,
    #[serde(rename = "type")]
    pub kind: Option<S<String>>,
    pub text: Option<S<RawText>>,
    pub choices: Option<S<RawChoices>>,
    pub range: Option<S<String>>,
    pub min_length: Option<S<u32>>,
    pub max_length: Option<S<u32>>,
    pub pattern: Option<S<String>>,
    pub retry: Option<S<RawText>>,
    pub attempts: Option<S<u32>>,
    pub on_fail: Option<S<String>>,
    pub optional: Option<S<bool>>,
    pub save_as: Option<S<String>>,
    pub consent: Option<S<RawConsent>>,
    pub anonymous: Option<S<bool>>,
    pub confirm: Option<S<bool>>,
    pub next: Option<S<RawNext>>,
    /// This question's own reminder delay (`never`: no reminder for it).
    pub remind_after: Option<S<String>>,
    /// This question's own reminder text.
    pub reminder: Option<S<RawText>>,
    pub goto: Option<S<String>>,
    pub branch: Option<S<Vec<S<RawBranch>>>>,
    pub end: Option<S<RawEnd>>,
    pub file_request: Option<S<RawRequest>>,
}

/// `consent:` on a question: which answer is an opt-in, and to what.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsent {
    pub topic: S<String>,
    /// The answer (choice key, or `yes`) that consents; `yes` when left out.
    pub when: Option<S<String>>,
}

/// One arm of a `branch` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBranch {
    #[serde(rename = "if")]
    pub condition: S<String>,
    pub goto: S<String>,
}

/// The fields of a `file_request` step; each is a template.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub service: S<String>,
    pub description: Option<S<String>>,
    pub location: Option<S<String>>,
    pub photo: Option<S<String>>,
}

/// A text: one string for every language, or one per language.
#[derive(Debug, Clone)]
pub enum RawText {
    Plain(String),
    ByLanguage(Vec<(S<String>, S<String>)>),
}

/// Keywords: a list (they start the flow in its first language) or a list per language.
#[derive(Debug)]
pub enum RawKeywords {
    Plain(Vec<S<String>>),
    ByLanguage(Vec<(S<String>, Vec<S<String>>)>),
}

/// `choices:` in the order written: key → label(s).
#[derive(Debug)]
pub struct RawChoices(pub Vec<(S<String>, S<RawChoice>)>);

/// One choice: a label for every language, or a label per language plus `also:` synonyms.
#[derive(Debug)]
pub struct RawChoice {
    pub label: RawText,
    pub also: Vec<S<String>>,
}

/// `next:` a step id, or a map from answer to step id.
#[derive(Debug)]
pub enum RawNext {
    Always(String),
    ByAnswer(Vec<(S<String>, S<String>)>),
}

/// `end: true`, or `end: <text>` (said, then the conversation ends).
#[derive(Debug)]
pub enum RawEnd {
    Quietly,
    With(RawText),
}

/// Scalars arrive typed (`5`, `true`); a text field wants them as written.
macro_rules! scalar_as_text {
    ($ctor:expr) => {
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok($ctor(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok($ctor(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($ctor(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($ctor(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok($ctor(v.to_string()))
        }
    };
}

fn pairs<'de, A, V>(mut map: A) -> Result<Vec<(S<String>, V)>, A::Error>
where
    A: MapAccess<'de>,
    V: Deserialize<'de>,
{
    let mut out = Vec::new();
    while let Some(key) = map.next_key::<S<String>>()? {
        out.push((key, map.next_value::<V>()?));
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for RawText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text, or a text per language (en: Hello, es: Hola)")
            }
            scalar_as_text!(RawText::Plain);
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawText, E> {
                Ok(RawText::Plain(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawText, A::Error> {
                Ok(RawText::ByLanguage(pairs(map)?))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawKeywords {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKeywords;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a list of keywords, or a list per language (en: [PARKS], es: [PARQUES])",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKeywords, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = seq.next_element::<S<String>>()? {
                    out.push(k);
                }
                Ok(RawKeywords::Plain(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawKeywords, A::Error> {
                Ok(RawKeywords::ByLanguage(pairs(map)?))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawChoices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawChoices;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of choice keys to labels (weekly: Weekly)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawChoices, A::Error> {
                Ok(RawChoices(pairs(map)?))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for RawChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawChoice;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a label, or labels per language with optional `also:` synonyms")
            }
            scalar_as_text!(|s| RawChoice {
                label: RawText::Plain(s),
                also: Vec::new()
            });
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawChoice, E> {
                Ok(RawChoice {
                    label: RawText::Plain(v.to_string()),
                    also: Vec::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawChoice, A::Error> {
                let mut labels = Vec::new();
                let mut also = Vec::new();
                while let Some(key) = map.next_key::<S<String>>()? {
                    if key.value == "also" {
                        also = map.next_value::<Vec<S<String>>>()?;
                    } else {
                        labels.push((key, map.next_value::<S<String>>()?));
                    }
                }
                Ok(RawChoice {
                    label: RawText::ByLanguage(labels),
                    also,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawNext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawNext;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step id, or a map of answers to step ids (never: why-not)")
            }
            scalar_as_text!(RawNext::Always);
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawNext, A::Error> {
                Ok(RawNext::ByAnswer(pairs(map)?))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawEnd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEnd;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`true`, or a closing text")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawEnd, E> {
                if v {
                    Ok(RawEnd::Quietly)
                } else {
                    Err(E::custom(
                        "`end: false` does nothing: write `end: true`, or remove the step",
                    ))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawEnd, E> {
                Ok(RawEnd::Quietly)
            }
            scalar_as_text!(|s| RawEnd::With(RawText::Plain(s)));
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawEnd, A::Error> {
                Ok(RawEnd::With(RawText::ByLanguage(pairs(map)?)))
            }
        }
        d.deserialize_any(V)
    }
}
