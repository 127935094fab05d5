//! The HTML view of a run: one self-contained page (no script, no outside resource) with the DAG drawn
//! as SVG — a column per stage, steps placed after the steps they wait for, coloured by status, with
//! durations and attempts — linking each step to its log and each stage to its JUnit file, and a table of
//! every step below it.

use std::collections::BTreeMap;
use std::fmt::Write;

use precheck_lang::shorten;

use crate::executor::{Event, Observer};
use crate::record::{RecordError, RunRecord, RunState, StepRecord, StepStatus, Store};

const NODE_WIDTH: u32 = 210;
const NODE_HEIGHT: u32 = 46;
const COLUMN_GAP: u32 = 40;
const ROW_GAP: u32 = 16;
const STAGE_GAP: u32 = 60;
const TOP: u32 = 56;
const LEFT: u32 = 20;

/// Escapes text for HTML and SVG.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A step's box: its fill and its border.
fn colour(status: StepStatus) -> (&'static str, &'static str) {
    match status {
        StepStatus::Succeeded => ("#d9f2dd", "#2e7d32"),
        StepStatus::Failed => ("#fbd9d7", "#c62828"),
        StepStatus::Errored => ("#ecdcf3", "#6a1b9a"),
        StepStatus::Skipped => ("#eeeeee", "#9e9e9e"),
        StepStatus::Running => ("#d6e6fb", "#1565c0"),
        StepStatus::Retrying => ("#fdebd0", "#ef6c00"),
        StepStatus::Pending => ("#ffffff", "#757575"),
    }
}

fn duration(step: &StepRecord) -> String {
    step.duration().map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or_else(|| "–".to_owned())
}

/// Where each step is drawn.
struct Layout {
    /// (x, y) of each step, by index in the record.
    at: Vec<(u32, u32)>,
    /// Each stage's name, x and width, in drawing order.
    stages: Vec<(String, u32, u32)>,
    width: u32,
    height: u32,
}

fn layout(record: &RunRecord) -> Layout {
    // Stages in record order, then `finally`; steps of a stage in columns by depth within the stage.
    let mut names: Vec<String> = record.stages.iter().map(|s| s.name.clone()).collect();
    for step in &record.steps {
        if !names.contains(&step.stage) {
            names.push(step.stage.clone());
        }
    }
    let index: BTreeMap<&str, usize> = record.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let mut depth = vec![0u32; record.steps.len()];
    // Steps are recorded after the steps they wait for, so one pass settles every depth.
    for (i, step) in record.steps.iter().enumerate() {
        depth[i] = step.depends.iter().filter_map(|d| index.get(d.as_str())).map(|&d| depth[d] + 1).max().unwrap_or(0);
    }
    let mut at = vec![(0, 0); record.steps.len()];
    let mut stages = Vec::new();
    let mut x = LEFT;
    let mut height = TOP;
    for name in names {
        let members: Vec<usize> = (0..record.steps.len()).filter(|&i| record.steps[i].stage == name).collect();
        let columns = members.iter().map(|&i| depth[i]).max().map_or(1, |d| d + 1);
        let mut rows = vec![0u32; columns as usize];
        for &i in &members {
            let column = depth[i];
            let row = rows[column as usize];
            rows[column as usize] += 1;
            at[i] = (x + column * (NODE_WIDTH + COLUMN_GAP), TOP + 20 + row * (NODE_HEIGHT + ROW_GAP));
            height = height.max(at[i].1 + NODE_HEIGHT + 20);
        }
        let width = columns * NODE_WIDTH + (columns - 1) * COLUMN_GAP;
        stages.push((name, x, width));
        x += width + STAGE_GAP;
    }
    Layout { at, stages, width: x, height: height + 10 }
}

/// Writes a run's `report.html` when the run ends: an observer of the execution, which itself knows no
/// view, added by whoever starts the run. A failed write is kept for the caller ([`ReportFile::take_error`]);
/// the run's record is not affected by it.
#[derive(Debug)]
pub struct ReportFile {
    store: Store,
    error: std::sync::Mutex<Option<RecordError>>,
}

impl ReportFile {
    /// The reports of the runs kept in `store`.
    pub fn new(store: Store) -> Self {
        Self { store, error: std::sync::Mutex::new(None) }
    }

    /// Why the report could not be written, once.
    pub fn take_error(&self) -> Option<RecordError> {
        self.error.lock().expect("report lock").take()
    }
}

impl Observer for ReportFile {
    fn event(&self, record: &RunRecord, event: &Event) {
        if *event == Event::RunFinished {
            let written = self.store.open(&record.id).and_then(|run| {
                let page = render(record, run.state(record));
                run.write_file("report.html", page.as_bytes())
            });
            if let Err(e) = written {
                *self.error.lock().expect("report lock") = Some(e);
            }
        }
    }
}

/// The page for a run as it stands (`state`), with links relative to the run's directory (where it is
/// written as `report.html`).
pub fn render(record: &RunRecord, state: RunState) -> String {
    let layout = layout(record);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="dag" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="steps of run {id}">"#,
        w = layout.width,
        h = layout.height,
        id = escape(&record.id)
    );
    svg.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#888"/></marker></defs>"##);
    // Stage frames, with their JUnit file when they ran checks.
    let junit: BTreeMap<&str, &str> =
        record.steps.iter().filter_map(|s| Some((s.stage.as_str(), s.junit.as_deref()?))).collect();
    for (name, x, width) in &layout.stages {
        let _ = write!(
            svg,
            r##"<g class="stage" data-stage="{n}"><rect x="{x0}" y="{y0}" width="{w}" height="{h}" rx="8" fill="none" stroke="#bbb" stroke-dasharray="4 3"/><text x="{tx}" y="{ty}" font-size="14" font-weight="bold">{n}</text>"##,
            n = escape(name),
            x0 = x - 10,
            y0 = TOP - 14,
            w = width + 20,
            h = layout.height - TOP + 4,
            tx = x,
            ty = TOP,
        );
        if let Some(file) = junit.get(name.as_str()) {
            let _ = write!(
                svg,
                r##"<a href="{f}"><text class="junit" x="{tx}" y="{ty}" font-size="11" fill="#1565c0">JUnit</text></a>"##,
                f = escape(file),
                tx = x + width - 34,
                ty = TOP,
            );
        }
        svg.push_str("</g>");
    }
    // Stage dependencies: an arrow from the end of one frame to the start of the next.
    let frame: BTreeMap<&str, (u32, u32)> = layout.stages.iter().map(|(n, x, w)| (n.as_str(), (*x, *w))).collect();
    for stage in &record.stages {
        for dep in &stage.depends {
            if let (Some(&(from_x, from_w)), Some(&(to_x, _))) =
                (frame.get(dep.as_str()), frame.get(stage.name.as_str()))
            {
                let y = TOP - 24;
                let _ = write!(
                    svg,
                    r##"<path class="stage-edge" d="M {a} {y} C {b} {y2}, {c} {y2}, {d} {y}" fill="none" stroke="#888" stroke-dasharray="5 4" marker-end="url(#arrow)"/>"##,
                    a = from_x + from_w,
                    b = from_x + from_w + 20,
                    c = to_x.saturating_sub(30),
                    d = to_x.saturating_sub(10),
                    y2 = y - 16,
                );
            }
        }
    }
    // Step dependencies.
    let index: BTreeMap<&str, usize> = record.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    for (i, step) in record.steps.iter().enumerate() {
        for dep in &step.depends {
            if let Some(&d) = index.get(dep.as_str()) {
                let (x1, y1) = (layout.at[d].0 + NODE_WIDTH, layout.at[d].1 + NODE_HEIGHT / 2);
                let (x2, y2) = (layout.at[i].0, layout.at[i].1 + NODE_HEIGHT / 2);
                let _ = write!(
                    svg,
                    r##"<path class="edge" d="M {x1} {y1} C {m} {y1}, {m} {y2}, {x2} {y2}" fill="none" stroke="#888" marker-end="url(#arrow)"/>"##,
                    m = (x1 + x2) / 2,
                );
            }
        }
    }
    // Steps.
    for (i, step) in record.steps.iter().enumerate() {
        let (x, y) = layout.at[i];
        let (fill, stroke) = colour(step.status);
        let tries = if step.attempts > 1 { format!(" · {} attempts", step.attempts) } else { String::new() };
        let title = match &step.message {
            Some(m) => format!("{} — {}: {}", step.id, step.status.as_str(), m),
            None => format!("{} — {}", step.id, step.status.as_str()),
        };
        let _ = write!(
            svg,
            r##"<a href="{log}"><g class="step {status}" data-step="{id}"><title>{title}</title><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="2"/><text x="{tx}" y="{ty1}" font-size="12" font-weight="bold">{label}</text><text x="{tx}" y="{ty2}" font-size="11" fill="#444">{status} · {took}{tries}</text></g></a>"##,
            log = escape(&step.log),
            status = step.status.as_str(),
            id = escape(&step.id),
            title = escape(&title),
            w = NODE_WIDTH,
            h = NODE_HEIGHT,
            tx = x + 8,
            ty1 = y + 18,
            ty2 = y + 35,
            label = escape(&shorten(&step.id, 29)),
            took = duration(step),
        );
    }
    svg.push_str("</svg>");

    let mut rows = String::new();
    for step in &record.steps {
        let (fill, _) = colour(step.status);
        let junit = step.junit.as_ref().map(|j| format!(r#" · <a href="{}">JUnit</a>"#, escape(j))).unwrap_or_default();
        let _ = write!(
            rows,
            r#"<tr class="{status}"><td><a href="{log}">{id}</a>{junit}</td><td style="background:{fill}">{status}</td><td>{attempts}/{max}</td><td>{took}</td><td>{message}</td></tr>"#,
            status = step.status.as_str(),
            log = escape(&step.log),
            id = escape(&step.id),
            attempts = step.attempts,
            max = step.max_attempts,
            took = duration(step),
            message = escape(&shorten(step.message.as_deref().unwrap_or_default(), 499))
                + &step
                    .diagnosis
                    .as_deref()
                    .map(|d| format!(
                        "<details><summary>why, as the cluster tells it</summary><pre>{}</pre></details>",
                        escape(d)
                    ))
                    .unwrap_or_default(),
        );
    }
    let values: Vec<String> = record
        .values
        .iter()
        .map(|(k, v)| format!("<code>{}={}</code>", escape(k), escape(&shorten(&v.as_text(), 79))))
        .chain(record.secrets.iter().map(|k| format!("<code>{}={}</code>", escape(k), crate::secret::MASK)))
        .collect();
    let status = state.as_str();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'self'">
<title>{pipeline} — run {id}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
.dag {{ overflow-x: auto; border: 1px solid #ddd; border-radius: 8px; padding: 8px; }}
table {{ border-collapse: collapse; margin-top: 16px; }}
td, th {{ border-bottom: 1px solid #eee; padding: 4px 10px; text-align: left; vertical-align: top; font-size: 13px; }}
svg text {{ font-family: system-ui, sans-serif; }}
</style>
</head>
<body>
<h1>{pipeline}: run <span id="run">{id}</span> <span id="status">{status}</span></h1>
<p>{summary}{stage}. Parameters: {values}</p>
<div class="dag">{svg}</div>
<table id="steps"><thead><tr><th>step</th><th>status</th><th>attempts</th><th>duration</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>
</body>
</html>
"#,
        pipeline = escape(&record.pipeline),
        id = escape(&record.id),
        summary = escape(&crate::progress::summary(record)),
        stage = record.stage.as_ref().map(|s| format!("; stage {} alone", escape(s))).unwrap_or_default(),
        values = if values.is_empty() { "none".to_owned() } else { values.join(" ") },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[tokio::test]
    async fn the_report_is_written_as_the_run_ends_and_a_failed_write_leaves_the_record_whole() {
        use crate::record::Store;
        use crate::run::Prepared;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let text = "name: p\nstages:\n  - name: s\n    steps: [{ name: a, run: [\"true\"] }]\n";
        let pipeline = Arc::new(crate::Pipeline::parse(&dir.path().join("p.yaml"), text).unwrap());
        let store = Store::new(dir.path().join("state"));
        let report = Arc::new(ReportFile::new(store.clone()));
        let observer = || report.clone() as Arc<dyn Observer>;

        let prepared = Prepared::new(pipeline.clone(), &Default::default(), None, &store).unwrap();
        let run_dir = prepared.dir().to_path_buf();
        let record = prepared.execute(observer(), Default::default()).await.unwrap();
        assert!(report.take_error().is_none());
        let page = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
        assert!(page.contains(&format!("<span id=\"run\">{}</span>", record.id)), "{page}");

        // A directory where the page goes: the run still ends as it did, its record written.
        let prepared = Prepared::new(pipeline, &Default::default(), None, &store).unwrap();
        let (id, run_dir) = (prepared.id().to_owned(), prepared.dir().to_path_buf());
        std::fs::create_dir_all(run_dir.join("report.html/in-the-way")).unwrap();
        let record = prepared.execute(observer(), Default::default()).await.unwrap();
        assert_eq!(record.status, crate::record::RunStatus::Succeeded);
        assert!(report.take_error().is_some_and(|e| e.to_string().contains("report.html")));
        let record = store.open(&id).unwrap().read().unwrap();
        assert_eq!(record.status, crate::record::RunStatus::Succeeded);
    }
}
