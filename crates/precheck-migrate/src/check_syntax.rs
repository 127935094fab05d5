//! How values are written in a check file: `run` arguments, sentences, quoted values and test names.

/// A piece of a value: text, or a variable read from the environment when the check file is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Env(String),
}

/// Text as a check file reads it outside `'…'` quotes: `${` would start a variable, `$${` is a literal one.
fn escape_dollar(text: &str) -> String {
    text.replace("${", "$${")
}

/// The pieces as they read inside a sentence or a quoted value (where `${NAME}` is expanded); `None` when
/// text ending in `$` comes right before a variable, which would read as the escape `$${`.
pub(crate) fn expanded_text(pieces: &[Piece]) -> Option<String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&escape_dollar(t)),
            Piece::Env(_) if out.ends_with('$') => return None,
            Piece::Env(name) => out.push_str(&format!("${{{name}}}")),
        }
    }
    Some(out)
}

/// One argument of a `run` line: bare when it is plain, `'…'` for literal text (no escapes, no variables),
/// `"${NAME}"` for a variable, `"'"` for a single quote. The parts are written next to each other, which
/// `run` reads as one argument.
pub(crate) fn run_argument(pieces: &[Piece]) -> String {
    let plain = |t: &str| {
        !t.is_empty()
            && !t.starts_with('#')
            && t.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-^*[]{}?!~".contains(c))
            && !t.contains("${")
    };
    let texts = || pieces.iter().filter_map(|p| if let Piece::Text(t) = p { Some(t.as_str()) } else { None });
    match pieces {
        [] => return "''".to_owned(),
        [Piece::Text(t)] if plain(t) => return t.clone(),
        [Piece::Text(t)] if !t.contains('\'') => return format!("'{t}'"),
        _ => {}
    }
    // One `"…"` reads best (`"there are 2 pods named '${APP}'"`) where nothing in it needs a backslash.
    let mixed = pieces.len() > 1 || texts().any(|t| t.contains('\''));
    if mixed
        && !texts().any(|t| t.contains(['"', '\\']))
        && let Some(text) = expanded_text(pieces)
    {
        return format!("\"{text}\"");
    }
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Env(name) => out.push_str(&format!("\"${{{name}}}\"")),
            Piece::Text(text) if plain(text) => out.push_str(text),
            Piece::Text(text) => {
                for (i, chunk) in text.split('\'').enumerate() {
                    if i > 0 {
                        out.push_str("\"'\"");
                    }
                    if !chunk.is_empty() {
                        out.push('\'');
                        out.push_str(chunk);
                        out.push('\'');
                    }
                }
                if text.is_empty() {
                    out.push_str("''");
                }
            }
        }
    }
    out
}

/// A quoted value (`expect output is '…'`, `skip '…'`, `namespace '…'`): in `'…'`, else `"…"`; `None` when
/// it holds both quotes or a line break, which no quoted value can (`''` for an empty one).
pub(crate) fn quoted_value(pieces: &[Piece]) -> Option<String> {
    let text = expanded_text(pieces)?;
    if text.is_empty() { Some("''".into()) } else { quoted(&text) }
}

/// `'text'`, else `"text"`; `None` for text that no quoted item can hold (both quotes, a line break) or
/// an empty one.
pub(crate) fn quoted(text: &str) -> Option<String> {
    if text.is_empty() || text.contains(['\n', '\r']) {
        return None;
    }
    if !text.contains('\'') {
        Some(format!("'{text}'"))
    } else if !text.contains('"') {
        Some(format!("\"{text}\""))
    } else {
        None
    }
}

/// Text on one line (a comment of the check file, a note on stderr): a note quoting the original may hold
/// its line breaks.
pub(crate) fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ⏎ ")
}

/// Text matched literally by a regex.
pub(crate) fn regex_literal(text: &str) -> String {
    regex_syntax::escape(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Piece {
        Piece::Text(t.into())
    }

    #[test]
    fn run_arguments_read_back_as_written() {
        let cases: &[(&[Piece], &str)] = &[
            (&[text("get")], "get"),
            (&[text("jsonpath={.items[*].metadata.name}")], "jsonpath={.items[*].metadata.name}"),
            (&[text("a b")], "'a b'"),
            (&[text("it's")], "\"it's\""),
            (&[text("it's \"x\"")], "'it'\"'\"'s \"x\"'"),
            (&[text("named '"), Piece::Env("APP".into()), text("' ${x}")], "\"named '${APP}' $${x}\""),
            (&[text("${HOME}")], "'${HOME}'"),
            (&[Piece::Env("NS".into())], "\"${NS}\""),
            (&[text("ns-"), Piece::Env("N".into())], "\"ns-${N}\""),
            (&[Piece::Env("HOME".into()), text("/.kube/config")], "\"${HOME}/.kube/config\""),
            (&[text("$"), Piece::Env("HOME".into())], "'$'\"${HOME}\""),
            (&[text("#x")], "'#x'"),
            (&[text("")], "''"),
        ];
        for (pieces, written) in cases {
            assert_eq!(run_argument(pieces), *written);
            let line = format!("test 't' {{\n  run echo {written}\n}}\n");
            let vars = |name: &str| Some(format!("<{name}>"));
            let file = precheck_lang::CheckFile::parse(&line, &vars).unwrap();
            let precheck_lang::Action::Run(command) = &file.tests[0].steps[0].action else { panic!() };
            let want: String = pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.clone(),
                    Piece::Env(n) => format!("<{n}>"),
                })
                .collect();
            assert_eq!(command.argv, ["echo".to_owned(), want], "{written}");
        }
    }

    #[test]
    fn quoted_values_pick_the_quote_they_do_not_hold() {
        assert_eq!(quoted_value(&[text("a")]).unwrap(), "'a'");
        assert_eq!(quoted_value(&[text("it's")]).unwrap(), "\"it's\"");
        assert_eq!(quoted_value(&[text("say \"it's\"")]), None);
        assert_eq!(quoted_value(&[text("${x} "), Piece::Env("Y".into())]).unwrap(), "'$${x} ${Y}'");
        // `$` then a variable cannot be written in one quoted value; as a `run` argument it can.
        assert_eq!(quoted_value(&[text("$"), Piece::Env("HOME".into())]), None);
    }
}
