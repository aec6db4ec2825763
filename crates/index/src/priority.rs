//! Which company source's fields win when one person's records merge.

use std::fmt;
use std::str::FromStr;

/// A company source, as the priority list names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceClass {
    /// Entra users with an extension.
    Users,
    /// The company directory (Exchange org contacts).
    Directory,
    /// The company phonebook (shared-mailbox contacts).
    Company,
}

impl SourceClass {
    /// Every class, in the default order.
    pub const ALL: [SourceClass; 3] = [Self::Users, Self::Directory, Self::Company];

    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Directory => "directory",
            Self::Company => "company",
        }
    }
}

impl fmt::Display for SourceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a priority list is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriorityError {
    /// A name that is no source.
    #[error("unknown source {0:?} in the source priority: use users, directory and company")]
    Unknown(String),
    /// A source named twice.
    #[error("source {0} is named twice in the source priority; name each at most once")]
    Duplicate(SourceClass),
}

impl FromStr for SourceClass {
    type Err = PriorityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "users" | "user" => Ok(Self::Users),
            "directory" | "org" => Ok(Self::Directory),
            "company" | "shared" => Ok(Self::Company),
            _ => Err(PriorityError::Unknown(s.to_owned())),
        }
    }
}

/// The order in which company sources' fields win (first wins); sources not named follow in
/// the default order (users, directory, company).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePriority(Vec<SourceClass>);

impl Default for SourcePriority {
    fn default() -> Self {
        Self(SourceClass::ALL.to_vec())
    }
}

impl SourcePriority {
    /// A priority from an ordered list; each source at most once.
    pub fn new(order: &[SourceClass]) -> Result<Self, PriorityError> {
        let mut out: Vec<SourceClass> = Vec::with_capacity(3);
        for &c in order {
            if out.contains(&c) {
                return Err(PriorityError::Duplicate(c));
            }
            out.push(c);
        }
        for c in SourceClass::ALL {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        Ok(Self(out))
    }

    /// A priority from configuration names (`["directory", "users"]`).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, PriorityError> {
        let classes = names
            .iter()
            .map(|n| n.as_ref().parse())
            .collect::<Result<Vec<SourceClass>, _>>()?;
        Self::new(&classes)
    }

    /// Position of `class` (0 wins).
    pub fn rank(&self, class: SourceClass) -> usize {
        self.0
            .iter()
            .position(|c| *c == class)
            .unwrap_or(self.0.len())
    }

    /// The full order.
    pub fn order(&self) -> &[SourceClass] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_completed_and_checked() {
        let p = SourcePriority::parse(&["directory"]).unwrap();
        assert_eq!(
            p.order(),
            [
                SourceClass::Directory,
                SourceClass::Users,
                SourceClass::Company
            ]
        );
        assert_eq!(p.rank(SourceClass::Directory), 0);
        assert_eq!(
            SourcePriority::parse(&["users", "users"]),
            Err(PriorityError::Duplicate(SourceClass::Users))
        );
        assert!(matches!(
            SourcePriority::parse(&["friends"]),
            Err(PriorityError::Unknown(_))
        ));
        assert_eq!(SourcePriority::default().rank(SourceClass::Users), 0);
    }
}
