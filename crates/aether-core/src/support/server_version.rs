//! The nats-server versions Aether supports: [`ServerVersion`], its one parser, and
//! [`MIN_NATS_SERVER`], the one home of the minimum-version policy. The JetStream store,
//! the testkit and `cargo xtask` all use them; `cargo xtask tidy` refuses a second copy.

use std::fmt;

/// The oldest nats-server Aether supports: 2.12.2. This is the one place that says why;
/// the JetStream store refuses an older server at open (naming both versions), the
/// testkit refuses to start one, and `cargo xtask itest` runs the store conformance suite
/// and the runtime tests on exactly this version too.
///
/// * The features Aether uses arrived by 2.12.0: atomic batch publish (2.12), batch direct
///   get (2.11; reads and replays), per-message TTLs, subject delete markers and pinned
///   consumers (2.11; what later features rely on). An older server is refused for lacking
///   them.
/// * 2.12.0 and 2.12.1 have every feature but are refused too. A batch direct get running
///   alongside a write can leak the stream's lock there, after which every publish and
///   read of the stream hangs while `/healthz` still answers (nats-server#7458, fixed in
///   2.12.2; Aether's runtime tests froze the server this way). With reads that avoid batch
///   gets, the paused- and killed-server runtime tests still found an answered ask with no
///   stored event on both versions, never on 2.12.2 or later.
/// * Production should run [`RECOMMENDED_NATS_SERVER`] (2.12.3) or later (durability
///   fixes).
///
/// ```
/// use aether_core::support::{ServerVersion, MIN_NATS_SERVER};
/// assert_eq!(MIN_NATS_SERVER.to_string(), "2.12.2");
/// assert!(ServerVersion::parse("2.12.1").unwrap() < MIN_NATS_SERVER);
/// ```
pub const MIN_NATS_SERVER: ServerVersion = ServerVersion::new(2, 12, 2);

/// The oldest nats-server recommended in production: 2.12.3 (durability fixes over
/// [`MIN_NATS_SERVER`]). Error messages that refuse an old server name it.
pub const RECOMMENDED_NATS_SERVER: ServerVersion = ServerVersion::new(2, 12, 3);

/// The JetStream API level of [`MIN_NATS_SERVER`] (level 2 arrived with 2.12): a server
/// below it lacks [`MISSING_FEATURES`], whatever its version says.
pub const MIN_JETSTREAM_API_LEVEL: usize = 2;

/// The first nats-server with every feature in [`MISSING_FEATURES`].
const FEATURES_ARRIVED: ServerVersion = ServerVersion::new(2, 12, 0);

/// What a nats-server older than 2.12.0 (or below JetStream API level 2) lacks, worded for
/// an error message after "the oldest Aether supports: ".
pub const MISSING_FEATURES: &str = "it lacks atomic batch publish, batch direct get, \
     per-message TTLs, subject delete markers and pinned consumers";

/// What is wrong with 2.12.0 and 2.12.1, worded as [`MISSING_FEATURES`] is.
const EARLY_2_12_DEFECTS: &str = "a batch direct get during a write can deadlock the stream \
     (nats-server#7458, fixed in 2.12.2), and acknowledged writes went missing in Aether's \
     fault tests on it";

/// A nats-server version: major, minor, patch, ordered in that order, a pre-release
/// (`-RC.1`, `-beta`, `-dev`) below its release, which it may predate a fix of.
///
/// ```
/// use aether_core::support::ServerVersion;
/// let v = ServerVersion::parse("v2.12.2-RC.1").unwrap();
/// assert!(v.is_pre_release());
/// assert!(v < ServerVersion::new(2, 12, 2));
/// assert!(v > ServerVersion::new(2, 12, 1));
/// assert_eq!(v.to_string(), "2.12.2-pre");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct ServerVersion {
    /// The major version (2 in 2.12.2).
    pub major: u32,
    /// The minor version (12 in 2.12.2).
    pub minor: u32,
    /// The patch version (2 in 2.12.2).
    pub patch: u32,
    /// `false` for a pre-release (ordered below its release), `true` for a release.
    released: bool,
}

impl ServerVersion {
    /// The version `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        ServerVersion {
            major,
            minor,
            patch,
            released: true,
        }
    }

    /// Whether this is a pre-release (`2.12.2-RC.1`), which orders below `2.12.2`.
    pub const fn is_pre_release(self) -> bool {
        !self.released
    }

    /// Reads a version as a server gives it in its INFO or `--version`: `"2.12.2"`, with an
    /// optional leading `v` (`"v2.12.2"`), surrounding whitespace, and a pre-release
    /// suffix (`"2.12.2-beta.1"`, `"2.14.0-dev"`: below its release) or a build suffix
    /// (`"2.12.2+build"`: the release itself). A missing patch reads as 0 (`"2.12"` is 2.12.0). `None` for anything
    /// else (`""`, `"2"`, `"x.1.2"`, `"2.12.2.1"`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let release = text.split(['-', '+']).next().unwrap_or_default();
        let mut parts = release.split('.');
        let major = number(parts.next()?)?;
        let minor = number(parts.next()?)?;
        let patch = match parts.next() {
            Some(p) => number(p)?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        let mut version = ServerVersion::new(major, minor, patch);
        version.released = !text.split('+').next().unwrap_or_default().contains('-');
        Some(version)
    }

    /// Reads the version from what `nats-server --version` prints
    /// (`"nats-server: v2.15.1\n"`): its last word, read by [`parse`](Self::parse).
    pub fn from_version_output(output: &str) -> Option<Self> {
        Self::parse(output.split_whitespace().last()?)
    }

    /// Why Aether refuses a server of this version, worded for an error message after
    /// "nats-server X is older than 2.12.2, the oldest Aether supports: " (what it lacks, or
    /// what is wrong with it); `None` for [`MIN_NATS_SERVER`] or later.
    ///
    /// ```
    /// use aether_core::support::{ServerVersion, MIN_NATS_SERVER};
    /// assert!(MIN_NATS_SERVER.why_unsupported().is_none());
    /// let why = ServerVersion::new(2, 11, 4).why_unsupported().unwrap();
    /// assert!(why.contains("atomic batch publish"));
    /// ```
    pub fn why_unsupported(self) -> Option<&'static str> {
        if self < FEATURES_ARRIVED {
            Some(MISSING_FEATURES)
        } else if self < MIN_NATS_SERVER {
            Some(EARLY_2_12_DEFECTS)
        } else {
            None
        }
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if self.is_pre_release() {
            f.write_str("-pre")?;
        }
        Ok(())
    }
}

/// A version component: ASCII digits only (no sign, no spaces), fitting a `u32`.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, patch: u32) -> Option<ServerVersion> {
        Some(ServerVersion::new(major, minor, patch))
    }

    fn pre(major: u32, minor: u32, patch: u32) -> Option<ServerVersion> {
        let mut version = ServerVersion::new(major, minor, patch);
        version.released = false;
        Some(version)
    }

    #[test]
    fn every_form_the_servers_and_the_old_parsers_gave_is_read() {
        assert_eq!(ServerVersion::parse("2.12.2"), v(2, 12, 2));
        assert_eq!(ServerVersion::parse("v2.12.2"), v(2, 12, 2));
        assert_eq!(ServerVersion::parse(" 2.15.1\n"), v(2, 15, 1));
        assert_eq!(ServerVersion::parse("2.12.2-beta.1"), pre(2, 12, 2));
        assert_eq!(ServerVersion::parse("2.14.0-dev"), pre(2, 14, 0));
        assert_eq!(ServerVersion::parse("v2.12.1-RC.2"), pre(2, 12, 1));
        assert_eq!(ServerVersion::parse("2.12.2+build.7"), v(2, 12, 2));
        assert_eq!(ServerVersion::parse("2.12"), v(2, 12, 0));
        assert_eq!(ServerVersion::parse("10.0.300"), v(10, 0, 300));
    }

    #[test]
    fn anything_else_is_not_a_version() {
        for bad in [
            "",
            " ",
            "v",
            "2",
            "2.",
            "2..1",
            "x.1.2",
            "2.x.1",
            "2.12.x",
            "2.12.2.1",
            "+2.12.2",
            "2.+12.2",
            "2. 12.2",
            "vv2.12.2",
            "-dev",
            "2.12.99999999999",
        ] {
            assert_eq!(ServerVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_version_is_the_last_word_of_the_version_output() {
        let out = ServerVersion::from_version_output;
        assert_eq!(out("nats-server: v2.15.1\n"), v(2, 15, 1));
        assert_eq!(out("nats-server: v2.12.0-RC.1"), pre(2, 12, 0));
        assert_eq!(out("nats-server: vX.1.2"), None);
        assert_eq!(out(""), None);
        assert_eq!(out("   \n"), None);
    }

    #[test]
    fn versions_order_by_major_then_minor_then_patch_and_print_as_read() {
        let p = |s| ServerVersion::parse(s).unwrap();
        assert!(p("2.11.11") < p("2.12.0"));
        assert!(p("2.12.10") > p("2.12.9"));
        assert!(p("3.0.0") > p("2.99.99"));
        assert!(p("v2.12.2-beta.1") < p("2.12.2"));
        assert!(p("v2.12.2-beta.1") > p("2.12.1"));
        assert!(
            p("2.12.2-beta.1") < MIN_NATS_SERVER,
            "a pre-release may predate a fix"
        );
        assert_eq!(p("2.12.2+build.7"), p("2.12.2"));
        for s in ["2.12.2", "0.0.0", "10.20.30"] {
            assert_eq!(p(s).to_string(), s);
        }
    }

    #[test]
    fn the_minimum_is_2_12_2_and_older_servers_are_told_why() {
        let p = |s| ServerVersion::parse(s).unwrap();
        assert_eq!(MIN_NATS_SERVER, p("2.12.2"));
        for ok in ["2.12.2", "2.12.3", "2.15.1", "3.0.0"] {
            assert_eq!(p(ok).why_unsupported(), None, "{ok}");
        }
        for early in ["2.12.0", "2.12.1", "v2.12.1-RC.2"] {
            let why = p(early).why_unsupported().unwrap();
            assert!(
                why.contains("deadlock") && why.contains("nats-server#7458"),
                "{why}"
            );
        }
        for old in ["2.11.99", "2.10.22", "2.9.10", "1.4.1"] {
            assert_eq!(p(old).why_unsupported(), Some(MISSING_FEATURES), "{old}");
        }
    }
}
