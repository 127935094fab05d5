//! Snapshots of rendered diagnostics: a changed message or span shows up as a reviewed diff.

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource, Report};
use precheck_lang::{CheckFile, SentenceError, parse_sentence};

fn render(source_name: &str, source: &str, error: impl miette::Diagnostic + Send + Sync + 'static) -> String {
    let report = Report::new(error).with_source_code(NamedSource::new(source_name, source.to_owned()));
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, report.as_ref())
        .unwrap();
    out
}

#[test]
fn a_typo_in_a_sentence() {
    let text = "at most 5 times evry 30s to get pods named 'nginx' and verify that 'status' is 'running'";
    let Err(SentenceError::Syntax(e)) = parse_sentence(text) else { panic!() };
    insta::assert_snapshot!(render("verify", text, e));
}

#[test]
fn every_error_of_a_check_file() {
    let text = "\
namespace 'web'

test 'nginx' {
    verify there are 2 pods named 'ng(inx'
    verify '.spec.containers[0' is 'x' for pods named 'a'
    run kubectl get pods | grep nginx
}
";
    let errors = CheckFile::parse(text, &|_| None).unwrap_err().errors;
    let rendered: Vec<String> = errors.into_iter().map(|e| render("web.check", text, e)).collect();
    insta::assert_snapshot!(rendered.join("\n"));
}
