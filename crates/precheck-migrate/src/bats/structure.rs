//! The blocks of a bats file: tests, functions, compound commands and the statements between them.

use crate::NotBats;
use crate::shell::{Token, Word};

/// A token of a statement.
#[derive(Debug, Clone)]
pub(crate) enum Tok {
    Word(Word),
    Op(&'static str),
}

/// A simple statement (up to a newline or `;`), on lines `first..=last`.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub tokens: Vec<Tok>,
    pub first: usize,
    pub last: usize,
    /// A `# …` comment after it on its line.
    pub comment: Option<String>,
}

impl Stmt {
    pub fn words(&self) -> impl Iterator<Item = &Word> {
        self.tokens.iter().filter_map(|t| match t {
            Tok::Word(w) => Some(w),
            Tok::Op(_) => None,
        })
    }

    fn first_literal(&self) -> Option<String> {
        match self.tokens.first() {
            Some(Tok::Word(w)) => w.literal().filter(|_| w.parts.iter().all(is_unquoted)),
            _ => None,
        }
    }

    fn is_word(&self, index: usize, keyword: &str) -> bool {
        matches!(self.tokens.get(index), Some(Tok::Word(w)) if w.is(keyword))
    }

    fn is_op(&self, index: usize, op: &str) -> bool {
        matches!(self.tokens.get(index), Some(Tok::Op(o)) if *o == op)
    }

    /// `name() {`, `function name {` or `function name() {`: the name, and how many tokens the header takes.
    fn function_header(&self) -> Option<(String, usize)> {
        let name_at = |i: usize| match self.tokens.get(i) {
            Some(Tok::Word(w)) => w.literal().filter(|n| is_function_name(n)),
            _ => None,
        };
        if self.is_word(0, "function") {
            let name = name_at(1)?;
            if self.is_word(2, "{") {
                return Some((name, 3));
            }
            return (self.is_op(2, "(") && self.is_op(3, ")") && self.is_word(4, "{")).then_some((name, 5));
        }
        let name = name_at(0)?;
        (self.is_op(1, "(") && self.is_op(2, ")") && self.is_word(3, "{")).then_some((name, 4))
    }

    fn is_close(&self) -> bool {
        self.tokens.len() == 1 && self.is_word(0, "}")
    }
}

fn is_unquoted(part: &crate::shell::Part) -> bool {
    matches!(part, crate::shell::Part::Lit { quoted: false, .. })
}

fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('@')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-:.".contains(c))
        && !matches!(name, "if" | "for" | "while" | "until" | "case" | "select" | "{" | "}")
}

/// What a file or block is made of.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Blank,
    /// A comment alone on its line.
    Comment {
        text: String,
        line: usize,
    },
    Stmt(Stmt),
    /// `@test "name" { … }`.
    Test {
        name: Vec<Word>,
        line: usize,
        body: Vec<Item>,
    },
    /// `name() { … }`, from its header's line to its `}`.
    Function {
        name: String,
        line: usize,
        end: usize,
        body: Vec<Item>,
    },
    /// `if`/`for`/`while`/`until`/`case`/`{` … to its end, as one.
    Compound {
        keyword: String,
        first: usize,
        last: usize,
    },
}

enum Entry {
    Blank,
    Comment(String, usize),
    Stmt(Stmt),
}

/// Reads the blocks of a bats file.
pub(crate) fn read(tokens: Vec<Token>) -> Result<Vec<Item>, NotBats> {
    let mut entries = entries(tokens).into_iter().peekable();
    let (items, _) = block(&mut entries, None)?;
    Ok(items)
}

/// Statements, comments alone on their lines, and blank lines. A function or test header followed by a
/// statement on its line (`teardown() { kubectl delete ns x; }`) is split in two.
fn entries(tokens: Vec<Token>) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut current: Option<Stmt> = None;
    let mut line_empty = true;
    let finish = |current: &mut Option<Stmt>, entries: &mut Vec<Entry>| {
        if let Some(stmt) = current.take() {
            entries.extend(split_header(stmt).into_iter().map(Entry::Stmt));
        }
    };
    for token in tokens {
        match token {
            Token::Newline(_) => {
                finish(&mut current, &mut entries);
                if line_empty {
                    entries.push(Entry::Blank);
                }
                line_empty = true;
            }
            Token::Comment { text, alone: true, line } => {
                finish(&mut current, &mut entries);
                entries.push(Entry::Comment(text, line));
                line_empty = false;
            }
            Token::Comment { text, line, .. } => {
                match current.as_mut() {
                    Some(stmt) => stmt.comment = Some(text),
                    // After a `;`: it belongs to the statement before.
                    None => match entries.last_mut() {
                        Some(Entry::Stmt(stmt)) => stmt.comment = Some(text),
                        _ => entries.push(Entry::Comment(text, line)),
                    },
                }
                line_empty = false;
            }
            Token::Op(";", _) => finish(&mut current, &mut entries),
            Token::Op(op, line) => {
                let stmt =
                    current.get_or_insert_with(|| Stmt { tokens: Vec::new(), first: line, last: line, comment: None });
                stmt.tokens.push(Tok::Op(op));
                stmt.last = line;
                line_empty = false;
            }
            Token::Word(word) => {
                let line = word.line;
                let stmt =
                    current.get_or_insert_with(|| Stmt { tokens: Vec::new(), first: line, last: line, comment: None });
                stmt.last = stmt.last.max(line + word_lines(&word));
                stmt.tokens.push(Tok::Word(word));
                line_empty = false;
            }
        }
    }
    finish(&mut current, &mut entries);
    entries
}

/// Lines a word spans past its first (a quoted text over several lines, a here-document).
fn word_lines(word: &Word) -> usize {
    word.parts
        .iter()
        .map(|p| match p {
            crate::shell::Part::Lit { text, .. } => text.matches('\n').count(),
            // A here-document's word starts on the line after its `<<`; its lines end with the end word's.
            crate::shell::Part::Shell { raw, .. } => raw.matches('\n').count(),
            crate::shell::Part::Var { .. } => 0,
        })
        .sum()
}

fn split_header(stmt: Stmt) -> Vec<Stmt> {
    let header_len = stmt.function_header().map(|(_, n)| n).or_else(|| {
        let test = stmt.first_literal().is_some_and(|w| w == "@test");
        let open = stmt.tokens.iter().position(|t| matches!(t, Tok::Word(w) if w.is("{")));
        open.filter(|_| test).map(|i| i + 1)
    });
    match header_len {
        Some(n) if n < stmt.tokens.len() => {
            let mut rest = stmt.clone();
            let mut header = stmt;
            rest.tokens = header.tokens.split_off(n);
            header.comment = None;
            vec![header, rest]
        }
        _ => vec![stmt],
    }
}

type Entries = std::iter::Peekable<std::vec::IntoIter<Entry>>;

/// Items up to the `}` that closes the block opened at `open` (or the end of the file for `None`); the
/// line of that `}`.
fn block(entries: &mut Entries, open: Option<usize>) -> Result<(Vec<Item>, usize), NotBats> {
    let mut items = Vec::new();
    loop {
        let Some(entry) = entries.next() else {
            return match open {
                Some(line) => Err(NotBats::Syntax {
                    line,
                    column: 1,
                    message: "the block opened here is never closed: expected a `}` alone on a line".into(),
                }),
                None => Ok((items, 0)),
            };
        };
        let stmt = match entry {
            Entry::Blank => {
                items.push(Item::Blank);
                continue;
            }
            Entry::Comment(text, line) => {
                items.push(Item::Comment { text, line });
                continue;
            }
            Entry::Stmt(stmt) => stmt,
        };
        if stmt.is_close() {
            return match open {
                Some(_) => Ok((items, stmt.first)),
                None => Err(NotBats::Syntax { line: stmt.first, column: 1, message: "`}` closes no block".into() }),
            };
        }
        if stmt.first_literal().is_some_and(|w| w == "@test") {
            let words: Vec<Word> = stmt.words().skip(1).cloned().collect();
            let Some((last, name)) = words.split_last().filter(|(last, name)| last.is("{") && !name.is_empty()) else {
                return Err(NotBats::Syntax {
                    line: stmt.first,
                    column: 1,
                    message: "expected `@test \"name\" {`".into(),
                });
            };
            let _ = last;
            let (body, _) = block(entries, Some(stmt.first))?;
            items.push(Item::Test { name: name.to_vec(), line: stmt.first, body });
            continue;
        }
        if let Some((name, _)) = stmt.function_header() {
            let (body, end) = block(entries, Some(stmt.first))?;
            items.push(Item::Function { name, line: stmt.first, end, body });
            continue;
        }
        if let Some(keyword) = compound_opener(&stmt) {
            let last = compound_end(entries, &stmt, &keyword)?;
            items.push(Item::Compound { keyword, first: stmt.first, last });
            continue;
        }
        items.push(Item::Stmt(stmt));
    }
}

fn compound_opener(stmt: &Stmt) -> Option<String> {
    if let Some(first) = stmt.first_literal()
        && matches!(first.as_str(), "if" | "for" | "while" | "until" | "case" | "select" | "{")
    {
        return Some(first);
    }
    // `cmd || {` … `}`: a group opened later in the statement.
    stmt.words().any(|w| w.is("{")).then(|| "{".to_owned())
}

fn closes(word: &str) -> bool {
    matches!(word, "fi" | "done" | "esac")
}

/// Reads to the end of a compound command that starts with `stmt` (nested ones included); its last line.
fn compound_end(entries: &mut Entries, stmt: &Stmt, keyword: &str) -> Result<usize, NotBats> {
    let mut depth = 0i32;
    // The first word of each statement opens or closes (and the one after `then`, `do` or `else`).
    let mut count = |stmt: &Stmt| {
        let words: Vec<String> = stmt
            .words()
            .take(2)
            .map(|w| w.literal().filter(|_| w.parts.iter().all(is_unquoted)).unwrap_or_default())
            .collect();
        let leading = match words.first().map(String::as_str) {
            Some("then" | "do" | "else") => words.get(1),
            _ => words.first(),
        };
        match leading.map(String::as_str) {
            Some("if" | "for" | "while" | "until" | "case" | "select") => depth += 1,
            Some(word) if closes(word) => depth -= 1,
            _ => {}
        }
        // Braces are words of their own anywhere in a statement (`cmd || { echo; false; }`).
        for word in stmt.words() {
            if word.is("{") {
                depth += 1;
            } else if word.is("}") {
                depth -= 1;
            }
        }
        depth
    };
    // A one-line `if …; then …; fi` was split at its `;`: count each piece.
    if count(stmt) <= 0 {
        return Ok(stmt.last);
    }
    for entry in entries.by_ref() {
        if let Entry::Stmt(next) = entry
            && count(&next) <= 0
        {
            return Ok(next.last);
        }
    }
    Err(NotBats::Syntax { line: stmt.first, column: 1, message: format!("the `{keyword}` here is never closed") })
}
