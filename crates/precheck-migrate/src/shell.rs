//! The shell words of a bats file: quotes, variables and operators, as bash reads them, with the line and
//! column each token starts at. Only what the converter needs to tell a translatable line from one that needs
//! a shell; nothing here runs anything.

use crate::NotBats;

/// A piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text as bash passes it on, after quote removal. `quoted`: inside `'…'` or `"…"` (no glob meaning).
    Lit { text: String, quoted: bool },
    /// `$NAME` or `${NAME}`; `quoted`: inside `"…"` (no word splitting, no glob meaning).
    Var { name: String, quoted: bool },
    /// What only a shell can give: `$(…)`, `` `…` ``, `${NAME:-…}`, `$1`, `$@`, `$((…))`. The text as
    /// written, and what it is.
    Shell { raw: String, what: &'static str },
}

/// A shell word: its parts and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub parts: Vec<Part>,
    /// 1-based line of the word's first character.
    pub line: usize,
    /// Nothing separates it from the token after it.
    pub glued: bool,
}

impl Word {
    /// The word's text when it is plain text (no variable, no substitution).
    pub fn literal(&self) -> Option<String> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Lit { text: t, .. } => text.push_str(t),
                _ => return None,
            }
        }
        Some(text)
    }

    /// Whether the word is exactly this unquoted text (a keyword such as `{`, `]`, `then`).
    pub fn is(&self, keyword: &str) -> bool {
        matches!(&self.parts[..], [Part::Lit { text, quoted: false }] if text == keyword)
    }

    /// The variable the word is made of alone (`$status`, `"${output}"`).
    pub fn only_var(&self) -> Option<&str> {
        match &self.parts[..] {
            [Part::Var { name, .. }] => Some(name),
            _ => None,
        }
    }
}

/// A token of a bats file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Word(Word),
    /// `|`, `||`, `&&`, `;`, `&`, `>`, `>>`, `<`, `<<`, `(`, `)` and the other control and redirection
    /// operators, with their line.
    Op(&'static str, usize),
    /// `# …` to the end of the line, with its line and whether it stands alone on it.
    Comment {
        text: String,
        line: usize,
        alone: bool,
    },
    /// The end of a line (at this line).
    Newline(usize),
}

const OPS: &[&str] =
    &["<<<", "<<-", ";;", "||", "&&", "|&", "&>", ">>", ">&", "<<", "<&", "|", "&", ";", "<", ">", "(", ")"];

/// Splits `source` into tokens. Fails on a quote or substitution left open at the end of the file.
pub(crate) fn tokens(source: &str) -> Result<Vec<Token>, NotBats> {
    let mut lexer = Lexer { chars: source.chars().collect(), at: 0, line: 1, column: 1, tokens: Vec::new() };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    column: usize,
    tokens: Vec<Token>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.at).copied()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars().enumerate().all(|(i, c)| self.peek(i) == Some(c))
    }

    fn open_error(&self, line: usize, column: usize, what: &str) -> NotBats {
        NotBats::Syntax { line, column, message: format!("{what} is never closed") }
    }

    fn run(&mut self) -> Result<(), NotBats> {
        let mut heredocs: Vec<(String, bool)> = Vec::new();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                }
                '\\' if self.peek(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                '\n' => {
                    let line = self.line;
                    self.bump();
                    // A here-document's lines belong to the statement that opened it.
                    for (end, strip_tabs) in std::mem::take(&mut heredocs) {
                        self.heredoc_body(&end, strip_tabs);
                    }
                    self.tokens.push(Token::Newline(line));
                }
                '#' => {
                    let line = self.line;
                    let alone = !matches!(self.tokens.last(), Some(Token::Word(_) | Token::Op(..)))
                        || matches!(self.tokens.last(), Some(Token::Word(w)) if w.line != line)
                        || matches!(self.tokens.last(), Some(Token::Op(_, l)) if *l != line);
                    let mut text = String::new();
                    while let Some(c) = self.peek(0).filter(|c| *c != '\n') {
                        text.push(c);
                        self.bump();
                    }
                    self.tokens.push(Token::Comment { text, line, alone });
                }
                _ => {
                    if let Some(op) = OPS.iter().find(|op| self.starts_with(op)) {
                        for _ in 0..op.chars().count() {
                            self.bump();
                        }
                        self.tokens.push(Token::Op(op, self.line));
                        if matches!(*op, "<<" | "<<-") {
                            self.skip_blanks();
                            let word = self.word()?;
                            let end = word.parts.iter().map(Self::raw_text).collect::<String>();
                            self.tokens.push(Token::Word(word));
                            heredocs.push((end, *op == "<<-"));
                        }
                        continue;
                    }
                    let word = self.word()?;
                    self.tokens.push(Token::Word(word));
                }
            }
        }
        Ok(())
    }

    fn raw_text(part: &Part) -> String {
        match part {
            Part::Lit { text, .. } => text.clone(),
            Part::Var { name, .. } => format!("${name}"),
            Part::Shell { raw, .. } => raw.clone(),
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// The lines of a here-document, up to its end word: kept as a word of text in the statement that
    /// opened it, so they are never read as commands.
    fn heredoc_body(&mut self, end: &str, strip_tabs: bool) {
        let line = self.line;
        let mut body = String::new();
        while self.peek(0).is_some() {
            let mut text = String::new();
            while let Some(c) = self.peek(0).filter(|c| *c != '\n') {
                text.push(c);
                self.bump();
            }
            self.bump();
            let bare = if strip_tabs { text.trim_start_matches('\t') } else { text.as_str() };
            if bare == end {
                break;
            }
            body.push_str(&text);
            body.push('\n');
        }
        let word = Word { parts: vec![Part::Shell { raw: body, what: "a here-document" }], line, glued: false };
        self.tokens.push(Token::Word(word));
    }

    fn word(&mut self) -> Result<Word, NotBats> {
        let line = self.line;
        let mut parts: Vec<Part> = Vec::new();
        let push_lit = |parts: &mut Vec<Part>, c: char, quoted: bool| match parts.last_mut() {
            Some(Part::Lit { text, quoted: q }) if *q == quoted => text.push(c),
            _ => parts.push(Part::Lit { text: c.to_string(), quoted }),
        };
        while let Some(c) = self.peek(0) {
            if matches!(c, ' ' | '\t' | '\n' | '\r') || OPS.iter().any(|op| self.starts_with(op)) {
                break;
            }
            match c {
                '\'' => {
                    let (l, col) = (self.line, self.column);
                    self.bump();
                    let mut text = String::new();
                    loop {
                        match self.bump() {
                            Some('\'') => break,
                            Some(c) => text.push(c),
                            None => return Err(self.open_error(l, col, "a `'` quote")),
                        }
                    }
                    parts.push(Part::Lit { text, quoted: true });
                }
                '"' => {
                    let (l, col) = (self.line, self.column);
                    self.bump();
                    // `""` is an empty word, not no word.
                    parts.push(Part::Lit { text: String::new(), quoted: true });
                    loop {
                        match self.peek(0) {
                            Some('"') => {
                                self.bump();
                                break;
                            }
                            Some('\\') => {
                                self.bump();
                                match self.bump() {
                                    Some(e @ ('"' | '\\' | '$' | '`')) => push_lit(&mut parts, e, true),
                                    Some('\n') => {}
                                    Some(other) => {
                                        push_lit(&mut parts, '\\', true);
                                        push_lit(&mut parts, other, true);
                                    }
                                    None => return Err(self.open_error(l, col, "a `\"` quote")),
                                }
                            }
                            Some('$') => {
                                let part = self.dollar(true)?;
                                match part {
                                    Some(part) => parts.push(part),
                                    None => push_lit(&mut parts, '$', true),
                                }
                            }
                            Some('`') => parts.push(self.backquote()?),
                            Some(c) => {
                                self.bump();
                                push_lit(&mut parts, c, true);
                            }
                            None => return Err(self.open_error(l, col, "a `\"` quote")),
                        }
                    }
                }
                '\\' => {
                    self.bump();
                    // A backslash before a newline joins the lines: neither is part of the word.
                    match self.bump() {
                        Some('\n') | None => {}
                        Some(c) => push_lit(&mut parts, c, true),
                    }
                }
                '$' if matches!(self.peek(1), Some('\'' | '"')) => {
                    // `$'…'` (ANSI-C escapes) and `$"…"` (translated): only a shell reads them.
                    let (l, col) = (self.line, self.column);
                    let quote = self.peek(1).unwrap_or('\'');
                    let mut raw = String::from("$");
                    self.bump();
                    raw.push(self.bump().unwrap_or(quote));
                    if !self.raw_until(quote, &mut raw) {
                        return Err(self.open_error(l, col, "a `$'` quote"));
                    }
                    let what = if quote == '\'' { "ANSI-C quoting" } else { "a translated string" };
                    parts.push(Part::Shell { raw, what });
                }
                '$' => match self.dollar(false)? {
                    Some(part) => parts.push(part),
                    None => push_lit(&mut parts, '$', false),
                },
                '`' => parts.push(self.backquote()?),
                _ => {
                    self.bump();
                    push_lit(&mut parts, c, false);
                }
            }
        }
        parts.retain(|p| !matches!(p, Part::Lit { text, .. } if text.is_empty()));
        if parts.is_empty() {
            parts.push(Part::Lit { text: String::new(), quoted: true });
        }
        // Glued to what follows (`2>&1`, `x>/dev/null`): a number before a redirection is its descriptor.
        let glued = self.peek(0).is_some_and(|c| !c.is_whitespace());
        Ok(Word { parts, line, glued })
    }

    /// At a `$`: a variable, a substitution, or `None` for a lone `$` (bumped). `quoted`: inside `"…"`.
    fn dollar(&mut self, quoted: bool) -> Result<Option<Part>, NotBats> {
        let (line, column) = (self.line, self.column);
        self.bump();
        match self.peek(0) {
            Some('{') => {
                let raw = self.balanced('{', '}', line, column, "`${`")?;
                let inner = &raw[2..raw.len() - 1];
                if is_name(inner) {
                    Ok(Some(Part::Var { name: inner.to_owned(), quoted }))
                } else {
                    Ok(Some(Part::Shell { raw, what: "a parameter expansion" }))
                }
            }
            Some('(') => {
                let arithmetic = self.peek(1) == Some('(');
                let raw = self.balanced('(', ')', line, column, "`$(`")?;
                let what = if arithmetic { "arithmetic" } else { "a command substitution" };
                Ok(Some(Part::Shell { raw, what }))
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(c) = self.peek(0).filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    name.push(c);
                    self.bump();
                }
                Ok(Some(Part::Var { name, quoted }))
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.bump();
                Ok(Some(Part::Shell { raw: format!("${c}"), what: "a special parameter" }))
            }
            _ => Ok(None),
        }
    }

    /// From an opening bracket (after the `$`) to its match, quotes inside taken as such; the text with `$`.
    fn balanced(&mut self, open: char, close: char, line: usize, column: usize, what: &str) -> Result<String, NotBats> {
        let mut raw = String::from("$");
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.bump() {
            raw.push(c);
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some('"'), '\\') => {
                    if let Some(e) = self.bump() {
                        raw.push(e);
                    }
                }
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '\\') => {
                    if let Some(e) = self.bump() {
                        raw.push(e);
                    }
                }
                (None, c) if c == open => depth += 1,
                (None, c) if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(raw);
                    }
                }
                _ => {}
            }
        }
        Err(self.open_error(line, column, what))
    }

    fn backquote(&mut self) -> Result<Part, NotBats> {
        let (line, column) = (self.line, self.column);
        let mut raw = String::new();
        raw.push(self.bump().unwrap_or('`'));
        if self.raw_until('`', &mut raw) {
            Ok(Part::Shell { raw, what: "a command substitution" })
        } else {
            Err(self.open_error(line, column, "a `` ` `` substitution"))
        }
    }

    /// Reads up to and with `close` into `raw`, a backslash keeping the character after it; false when the
    /// text ends first.
    fn raw_until(&mut self, close: char, raw: &mut String) -> bool {
        loop {
            match self.bump() {
                Some('\\') => {
                    raw.push('\\');
                    if let Some(c) = self.bump() {
                        raw.push(c);
                    }
                }
                Some(c) => {
                    raw.push(c);
                    if c == close {
                        return true;
                    }
                }
                None => return false,
            }
        }
    }
}

/// A shell variable name.
pub(crate) fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(source: &str) -> Vec<Vec<Part>> {
        tokens(source)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.parts),
                _ => None,
            })
            .collect()
    }

    fn lit(text: &str, quoted: bool) -> Part {
        Part::Lit { text: text.into(), quoted }
    }

    #[test]
    fn quotes_variables_and_substitutions_are_told_apart() {
        let w = words(r#"run kubectl get pods -n "$NS" 'a b'"c ${X}"\ d $(date) "$1""#);
        assert_eq!(w[0], [lit("run", false)]);
        assert_eq!(w[4], [lit("-n", false)]);
        assert_eq!(w[5], [Part::Var { name: "NS".into(), quoted: true }]);
        assert_eq!(
            w[6],
            [
                lit("a b", true),
                lit("c ", true),
                Part::Var { name: "X".into(), quoted: true },
                lit(" ", true),
                lit("d", false)
            ]
        );
        assert_eq!(words("echo $A-x")[1], [Part::Var { name: "A".into(), quoted: false }, lit("-x", false)]);
        assert!(matches!(&words(r"echo $'a	b'")[1][..], [Part::Shell { what: "ANSI-C quoting", .. }]));
        // A backslash-newline inside a word joins its lines.
        assert_eq!(words("kubectl -l app=web\\\n,tier=a")[2], [lit("app=web,tier=a", false)]);
        assert!(matches!(&w[7][..], [Part::Shell { what: "a command substitution", .. }]));
        assert!(matches!(&w[8][..], [Part::Shell { what: "a special parameter", .. }]));
        assert_eq!(words(r#"echo """#)[1], [lit("", true)]);
    }

    #[test]
    fn operators_comments_continuations_and_heredocs() {
        let t = tokens("a | b && c # note\nkubectl \\\n  apply -f - <<EOF\nkind: Pod\nEOF\nnext\n").unwrap();
        let ops: Vec<_> = t.iter().filter_map(|t| if let Token::Op(o, _) = t { Some(*o) } else { None }).collect();
        assert_eq!(ops, ["|", "&&", "<<"]);
        assert!(t.iter().any(|t| matches!(t, Token::Comment { text, alone: false, line: 1 } if text == "# note")));
        let body = t.iter().find_map(|t| match t {
            Token::Word(Word { parts, .. }) => match &parts[..] {
                [Part::Shell { raw, what: "a here-document" }] => Some(raw.clone()),
                _ => None,
            },
            _ => None,
        });
        assert_eq!(body.as_deref(), Some("kind: Pod\n"));
        // `next` is a word of line 6, not part of the here-document.
        assert!(t.iter().any(|t| matches!(t, Token::Word(w) if w.is("next") && w.line == 6)));
    }

    #[test]
    fn an_open_quote_is_an_error_at_its_place() {
        let e = tokens("@test \"x\" {\n  echo 'oops\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "2:8: a `'` quote is never closed");
    }
}
