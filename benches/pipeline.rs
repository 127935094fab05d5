//! `cargo bench --bench pipeline`: scheduling overhead of the pipeline executor on a 1,000-step DAG of
//! no-op steps (`run: [true]`), and its peak memory. The overhead per step is the run's wall time minus the
//! wall time of starting the same 1,000 `true` processes with the same parallelism and no scheduler,
//! divided by 1,000; it includes keeping the run record (rewritten atomically and flushed to disk after
//! every batch of step transitions). Prints figures; asserts nothing about speed.

use std::sync::Arc;
use std::time::Instant;

use precheck_pipeline::Pipeline;
use precheck_pipeline::executor::{ExecOptions, Quiet};
use precheck_pipeline::record::Store;

/// Stages (100 steps each): 10, or `PRECHECK_BENCH_STAGES` to see how the overhead grows with the graph.
fn stages() -> usize {
    std::env::var("PRECHECK_BENCH_STAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(10)
}
const STEPS_PER_STAGE: usize = 100;
const PARALLELISM: usize = 8;

/// 10 stages in a chain; in each, 100 steps where every step after the tenth waits for one of the ten
/// before it, so the graph has both width and depth.
fn pipeline_text() -> String {
    let mut text = format!("name: bench\nparallelism: {PARALLELISM}\nstages:\n");
    for s in 0..stages() {
        text.push_str(&format!("  - name: stage{s}\n"));
        if s > 0 {
            text.push_str(&format!("    depends: [stage{}]\n", s - 1));
        }
        text.push_str("    steps:\n");
        for n in 0..STEPS_PER_STAGE {
            text.push_str(&format!("      - name: step{n}\n"));
            if n >= 10 {
                text.push_str(&format!("        depends: [step{}]\n", n % 10));
            }
            text.push_str("        run: [\"true\"]\n");
        }
    }
    text
}

fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().to_owned()))
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("bench.yaml");
    std::fs::write(&file, pipeline_text()).expect("write the pipeline");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    // Baseline: the same processes, same parallelism, no scheduler and no record.
    let started = Instant::now();
    runtime.block_on(async {
        let slots = Arc::new(tokio::sync::Semaphore::new(PARALLELISM));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..stages() * STEPS_PER_STAGE {
            let slots = slots.clone();
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await;
                tokio::process::Command::new("true").status().await.expect("run true");
            });
        }
        while tasks.join_next().await.is_some() {}
    });
    let baseline = started.elapsed();

    let load = Instant::now();
    let pipeline = Arc::new(Pipeline::load(&file).expect("a valid pipeline"));
    let values = pipeline.values_from_args(&[]).expect("no parameters");
    let loaded = load.elapsed();
    let store = Store::new(dir.path().join("state"));
    let started = Instant::now();
    let record = runtime
        .block_on(precheck_pipeline::run::start(
            pipeline,
            &values,
            None,
            &store,
            Arc::new(Quiet),
            ExecOptions::default(),
        ))
        .expect("the run");
    let took = started.elapsed();
    let steps = record.steps.len();
    assert_eq!(record.count(precheck_pipeline::record::StepStatus::Succeeded), steps, "every step succeeded");
    let record_size = std::fs::metadata(store.runs().join(&record.id).join("run.json")).map_or(0, |m| m.len());

    println!("pipeline executor: {steps} no-op steps (`true`), {} chained stages, parallelism {PARALLELISM}", stages());
    println!("  load and check the file: {:.1} ms", loaded.as_secs_f64() * 1e3);
    println!("  run: {:.2} s wall", took.as_secs_f64());
    println!("  baseline (same processes, no scheduler): {:.2} s", baseline.as_secs_f64());
    println!(
        "  scheduling overhead: {:.2} ms per step (the {:.0} KiB record rewritten atomically after each batch of transitions)",
        (took.saturating_sub(baseline)).as_secs_f64() * 1e3 / steps as f64,
        record_size as f64 / 1024.0,
    );
    println!("  peak memory (this process): {:.1} MiB", peak_memory_mib());
}
