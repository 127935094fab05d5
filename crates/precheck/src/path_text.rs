//! Paths worked out as text, without asking the file system (what they name may not exist yet): tidied for
//! reports, and one directory named from another.

use std::path::{Component, Path, PathBuf};

/// A path without `.` and with each `dir/..` taken out, as written, so names in reports read
/// `examples/checks/a.check` rather than `examples/build/../checks/a.check`.
///
/// ```
/// use std::path::Path;
/// use precheck::path_text::tidy;
///
/// assert_eq!(tidy(Path::new("examples/build/../checks/./a.check")), Path::new("examples/checks/a.check"));
/// assert_eq!(tidy(Path::new("a/..")), Path::new("."));
/// ```
pub fn tidy(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() { PathBuf::from(".") } else { out.iter().collect() }
}

/// The way from directory `from` to directory `to` (relative paths are taken from `base`), `.` when they
/// are one: `out/checks` → `suite/a` is `../../suite/a`.
///
/// ```
/// use std::path::Path;
/// use precheck::path_text::relative;
///
/// let base = Path::new("/work");
/// assert_eq!(relative(Path::new("out/checks"), Path::new("suite/a"), base), "../../suite/a");
/// assert_eq!(relative(Path::new("./out/../suite"), Path::new("suite/x/.."), base), ".");
/// assert_eq!(relative(Path::new("/tmp/o"), Path::new("suite"), base), "../../work/suite");
/// ```
pub fn relative(from: &Path, to: &Path, base: &Path) -> String {
    let (from, to) = (tidy(&base.join(from)), tidy(&base.join(to)));
    let common = from.components().zip(to.components()).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in from.components().skip(common) {
        path.push("..");
    }
    for part in to.components().skip(common) {
        path.push(part);
    }
    if path.as_os_str().is_empty() { ".".into() } else { path.to_string_lossy().into_owned() }
}
