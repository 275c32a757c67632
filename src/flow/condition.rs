//! Simple conditions staff write in `when:` and `branch:`, such as
//! `visits == never`, `safety <= 2 and contact.zip in [40202, 40203]`, `email is set`.
//!
//! Grammar (`and` binds tighter than `or`; no parentheses, to stay readable):
//! ```text
//! condition := all ("or" all)*
//! all       := test ("and" test)*
//! test      := name "is set" | name "is not set"
//!            | name ("==" | "!=" | "<" | "<=" | ">" | ">=") value
//!            | name "in" "[" value ("," value)* "]" | name "not in" "[" … "]"
//! name      := answer-id | "contact." field
//! value     := number | word | 'quoted text' | "quoted text"
//! ```

use crate::sms::fold::fold;

/// What a condition reads: an earlier answer or a contact field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Answer(String),
    Contact(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One test.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    IsSet(Operand, bool),
    Compare(Operand, Op, String),
    In(Operand, Vec<String>, bool),
}

/// A parsed condition: any of several all-of groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub any: Vec<Vec<Test>>,
}

/// Why a condition could not be read, and where (character offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
    Comma,
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok)>, ConditionError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '[' => {
                out.push((start, Tok::Open));
                i += 1;
            }
            ']' => {
                out.push((start, Tok::Close));
                i += 1;
            }
            ',' => {
                out.push((start, Tok::Comma));
                i += 1;
            }
            '\'' | '"' => {
                let quote = c;
                i += 1;
                let from = i;
                while i < chars.len() && chars[i] != quote {
                    i += 1;
                }
                if i == chars.len() {
                    return Err(ConditionError {
                        offset: start,
                        message: format!("a {quote} quote is never closed"),
                    });
                }
                out.push((start, Tok::Quoted(chars[from..i].iter().collect())));
                i += 1;
            }
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('=', Some('=')) => (Op::Eq, 2),
                    ('=', _) => (Op::Eq, 1),
                    ('!', Some('=')) => (Op::Ne, 2),
                    ('<', Some('=')) => (Op::Le, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('>', _) => (Op::Gt, 1),
                    _ => {
                        return Err(ConditionError {
                            offset: start,
                            message: "`!` must be followed by `=`".into(),
                        });
                    }
                };
                out.push((start, Tok::Op(op)));
                i += len;
            }
            _ => {
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(
                        chars[i],
                        '[' | ']' | ',' | '=' | '!' | '<' | '>' | '\'' | '"'
                    )
                {
                    i += 1;
                }
                out.push((start, Tok::Word(chars[start..i].iter().collect())));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(_, t)| t)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.at).map_or(self.end, |(o, _)| *o)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ConditionError> {
        Err(ConditionError {
            offset: self.offset(),
            message: message.into(),
        })
    }
    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word)) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn value(&mut self) -> Result<String, ConditionError> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                self.at += 1;
                Ok(w)
            }
            _ => self.err("expected a value here (a number, a word or 'quoted text')"),
        }
    }
    fn operand(&mut self) -> Result<Operand, ConditionError> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.at += 1;
                Ok(match w.strip_prefix("contact.") {
                    Some(f) => Operand::Contact(f.to_string()),
                    None => Operand::Answer(w),
                })
            }
            _ => self.err("expected the id of an earlier question or contact.<field> here"),
        }
    }
    fn list(&mut self) -> Result<Vec<String>, ConditionError> {
        if self.peek() != Some(&Tok::Open) {
            return self.err("expected a list in square brackets, like [40202, 40203]");
        }
        self.at += 1;
        let mut values = vec![self.value()?];
        loop {
            match self.peek() {
                Some(Tok::Comma) => {
                    self.at += 1;
                    values.push(self.value()?);
                }
                Some(Tok::Close) => {
                    self.at += 1;
                    return Ok(values);
                }
                _ => return self.err("expected `,` or `]`"),
            }
        }
    }
    fn test(&mut self) -> Result<Test, ConditionError> {
        let operand = self.operand()?;
        if self.keyword("is") {
            let negated = self.keyword("not");
            if !self.keyword("set") {
                return self.err("expected `is set` or `is not set`");
            }
            return Ok(Test::IsSet(operand, !negated));
        }
        if self.keyword("not") {
            if !self.keyword("in") {
                return self.err("expected `not in [...]`");
            }
            return Ok(Test::In(operand, self.list()?, false));
        }
        if self.keyword("in") {
            return Ok(Test::In(operand, self.list()?, true));
        }
        match self.peek().cloned() {
            Some(Tok::Op(op)) => {
                self.at += 1;
                Ok(Test::Compare(operand, op, self.value()?))
            }
            _ => self
                .err("expected a comparison such as `== never`, `<= 2`, `is set` or `in [a, b]`"),
        }
    }
}

impl Condition {
    /// Parses a condition as staff write it.
    pub fn parse(src: &str) -> Result<Condition, ConditionError> {
        let toks = tokenize(src)?;
        if toks.is_empty() {
            return Err(ConditionError {
                offset: 0,
                message: "the condition is empty".into(),
            });
        }
        let mut p = Parser {
            toks,
            at: 0,
            end: src.chars().count(),
        };
        let mut any = Vec::new();
        loop {
            let mut all = vec![p.test()?];
            while p.keyword("and") {
                all.push(p.test()?);
            }
            any.push(all);
            if p.at == p.toks.len() {
                break;
            }
            if !p.keyword("or") {
                return p.err("expected `and`, `or` or the end of the condition");
            }
        }
        Ok(Condition { any })
    }

    /// Every operand the condition reads, with the values it is compared against.
    pub fn tests(&self) -> impl Iterator<Item = &Test> {
        self.any.iter().flatten()
    }

    /// Evaluates the condition; `lookup` gives an operand's current value (an answer's
    /// normalised value or a contact field), None when it has none.
    pub fn eval<'a>(&self, lookup: impl Fn(&Operand) -> Option<&'a str>) -> bool {
        self.any
            .iter()
            .any(|all| all.iter().all(|t| eval_test(t, &lookup)))
    }
}

impl Test {
    /// The operand this test reads.
    pub fn operand(&self) -> &Operand {
        match self {
            Test::IsSet(o, _) | Test::Compare(o, _, _) | Test::In(o, _, _) => o,
        }
    }

    /// The literal values this test compares against.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Test::IsSet(..) => vec![],
            Test::Compare(_, _, v) => vec![v.as_str()],
            Test::In(_, vs, _) => vs.iter().map(String::as_str).collect(),
        }
    }
}

fn equal(a: &str, b: &str) -> bool {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => fold(a) == fold(b),
    }
}

fn eval_test<'a>(t: &Test, lookup: &impl Fn(&Operand) -> Option<&'a str>) -> bool {
    match t {
        Test::IsSet(o, want) => lookup(o).is_some_and(|v| !v.trim().is_empty()) == *want,
        Test::In(o, values, want) => match lookup(o) {
            Some(v) => values.iter().any(|x| equal(v, x)) == *want,
            None => !*want,
        },
        Test::Compare(o, op, value) => {
            let Some(v) = lookup(o) else {
                return *op == Op::Ne;
            };
            match op {
                Op::Eq => equal(v, value),
                Op::Ne => !equal(v, value),
                _ => match (v.trim().parse::<f64>(), value.trim().parse::<f64>()) {
                    (Ok(x), Ok(y)) => match op {
                        Op::Lt => x < y,
                        Op::Le => x <= y,
                        Op::Gt => x > y,
                        _ => x >= y,
                    },
                    // Ordering words makes no sense; a non-number never satisfies `<`.
                    _ => false,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, vals: &[(&str, &str)]) -> bool {
        let c = Condition::parse(src).unwrap();
        c.eval(|o| {
            let name = match o {
                Operand::Answer(a) => a.clone(),
                Operand::Contact(f) => format!("contact.{f}"),
            };
            vals.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        })
    }

    #[test]
    fn equality_ignores_case_and_compares_numbers_as_numbers() {
        assert!(eval("visits == never", &[("visits", "Never")]));
        assert!(eval("safety = 4", &[("safety", "4.0")]));
        assert!(!eval("visits != never", &[("visits", "never")]));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let vals = [("a", "1"), ("b", "2"), ("c", "9")];
        assert!(eval("a == 1 and b == 3 or c == 9", &vals));
        assert!(!eval("a == 2 or b == 2 and c == 1", &vals));
    }

    #[test]
    fn lists_set_tests_and_contact_fields_work() {
        let vals = [("contact.zip", "40203"), ("email", "")];
        assert!(eval("contact.zip in [40202, '40203']", &vals));
        assert!(eval("contact.zip not in [1]", &vals));
        assert!(eval("email is not set", &vals));
        assert!(eval("phone is not set", &vals));
        assert!(!eval("contact.zip is not set", &vals));
    }

    #[test]
    fn ordering_a_word_is_false_rather_than_an_error() {
        assert!(!eval("visits < 3", &[("visits", "weekly")]));
        assert!(eval("age < 18", &[("age", "16")]));
    }

    #[test]
    fn malformed_conditions_say_where_they_went_wrong() {
        let e = Condition::parse("visits ==").unwrap_err();
        assert_eq!(e.offset, 9);
        assert!(Condition::parse("visits is maybe").is_err());
        assert!(Condition::parse("a == 1 b == 2").is_err());
        assert!(Condition::parse("").is_err());
        assert!(Condition::parse("zip in [1, 2").is_err());
        assert!(Condition::parse("name == 'open").is_err());
    }
}
