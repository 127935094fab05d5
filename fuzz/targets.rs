#![allow(dead_code)] // each fuzz target uses one of these
//! The bodies of the fuzz targets, shared by cargo-fuzz (fuzz_targets/*.rs, nightly) and the stable
//! replay in CI (tests/fuzz_replay.rs). Each parses arbitrary bytes and checks what a panic-free parse
//! must also get right: every error's span lies inside the text, on character boundaries, and renders.

use std::path::Path;

/// A sentence: parsed; an error's span is within the text and its message is not empty.
pub fn sentence(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match precheck_lang::parse_sentence(text) {
        Ok(_) | Err(precheck_lang::SentenceError::Empty) => {}
        Err(precheck_lang::SentenceError::Syntax(e)) => {
            spans_fit(text, e.span.start, e.span.end);
            assert!(!e.message.is_empty());
            let _ = precheck_lang::line_col(text, e.span.start);
        }
    }
}

/// A check file (any bytes: text that is not UTF-8 is an error with a position).
pub fn check_file(data: &[u8]) {
    let text = match precheck_lang::decode_utf8(data.to_vec()) {
        Ok(text) => text,
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1);
            return;
        }
    };
    let vars = |name: &str| (name == "FUZZ").then(|| "value".to_owned());
    if let Err(errors) = precheck_lang::CheckFile::parse(&text, &vars) {
        assert!(!errors.errors.is_empty());
        for e in &errors.errors {
            spans_fit(&text, e.span.start, e.span.end);
            let _ = precheck_lang::line_col(&text, e.span.start);
        }
    }
}

/// A pipeline file: parsed, every error rendered as the CLI renders it; a valid one bound with its
/// defaults (fan-out, conditions). Inputs naming device files are skipped (an import of /dev/zero would
/// read forever; pipeline files are trusted configuration).
pub fn pipeline_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if text.contains("/dev") || text.contains("/proc") || text.contains("/sys") {
        return;
    }
    match precheck_pipeline::Pipeline::parse(Path::new("fuzz/pipeline.yaml"), text) {
        Ok(pipeline) => {
            if let Ok(values) = pipeline.values_from_args(&[]) {
                let _ = pipeline.bind(&values, None);
            }
        }
        Err(precheck_pipeline::LoadError::Invalid { errors }) => {
            let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
            for e in &errors {
                let mut out = String::new();
                handler.render_report(&mut out, e).expect("an error renders");
            }
        }
        Err(_) => {}
    }
}

/// A bats file converted: text that is not a bats file says where (line and column from 1); a converted
/// file is a valid check file, every `${VAR}` it reads set, and each note names a line of the original.
pub fn bats_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match precheck_migrate::bats::convert(text, &precheck_migrate::bats::Options::default()) {
        Ok(conversion) => {
            let vars = |name: &str| Some(name.to_owned());
            if let Err(e) = precheck_lang::CheckFile::parse(&conversion.text, &vars) {
                panic!("the conversion is not a valid check file: {e:?}\n{}", conversion.text);
            }
            let lines = text.lines().count().max(1);
            for note in &conversion.notes {
                assert!(note.line >= 1 && note.line <= lines, "note at line {} of {lines}", note.line);
            }
        }
        Err(precheck_migrate::NotBats::Syntax { line, column, message }) => {
            assert!(line >= 1 && column >= 1 && !message.is_empty());
        }
        Err(precheck_migrate::NotBats::NoTests) => {}
    }
}

fn spans_fit(text: &str, start: usize, end: usize) {
    assert!(start <= end && end <= text.len(), "span {start}..{end} outside a text of {} bytes", text.len());
    assert!(text.is_char_boundary(start) && text.is_char_boundary(end), "span {start}..{end} splits a character");
}
