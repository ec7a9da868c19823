//! Errors a plugin returns to the host, and errors the host returns to it.

use std::fmt;

use crate::bindings::waybill::plugin::types as wit;

/// Why a plugin could not personalize a shipment. The seller sees the kind
/// and the message on the shipment, so say what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The product's plugin config is missing a field or malformed.
    InvalidConfig(String),
    /// The order line's options are missing a field or malformed.
    InvalidOptions(String),
    /// A source file is missing or not something the plugin can process.
    InvalidSource(String),
    /// A host call failed.
    Host(HostError),
    /// Anything else.
    Failed(String),
}

impl Error {
    /// An [`Error::InvalidConfig`].
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::InvalidConfig(message.into())
    }

    /// An [`Error::InvalidOptions`].
    pub fn invalid_options(message: impl Into<String>) -> Self {
        Self::InvalidOptions(message.into())
    }

    /// An [`Error::InvalidSource`].
    pub fn invalid_source(message: impl Into<String>) -> Self {
        Self::InvalidSource(message.into())
    }

    /// An [`Error::Failed`].
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    pub(crate) fn into_wit(self) -> wit::PluginError {
        match self {
            Self::InvalidConfig(m) => wit::PluginError::InvalidConfig(m),
            Self::InvalidOptions(m) => wit::PluginError::InvalidOptions(m),
            Self::InvalidSource(m) => wit::PluginError::InvalidSource(m),
            Self::Host(e) => wit::PluginError::Host(e.into_wit()),
            Self::Failed(m) => wit::PluginError::Failed(m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(m) => write!(f, "invalid plugin config: {m}"),
            Self::InvalidOptions(m) => write!(f, "invalid line options: {m}"),
            Self::InvalidSource(m) => write!(f, "invalid source file: {m}"),
            Self::Host(e) => write!(f, "host call failed: {e}"),
            Self::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Host(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HostError> for Error {
    fn from(e: HostError) -> Self {
        Self::Host(e)
    }
}

/// An I/O error from [`SourceReader`](crate::SourceReader) or
/// [`OutputFile`](crate::OutputFile) carries the host's error; anything
/// else becomes [`Error::Failed`].
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<HostError>()) {
            let inner = e.into_inner().expect("checked above");
            return Self::Host(*inner.downcast::<HostError>().expect("checked above"));
        }
        Self::Failed(e.to_string())
    }
}

/// Why a call into the host failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// A read started past the end of a source file.
    OutOfRange(String),
    /// An argument was refused, e.g. a duplicate output name.
    InvalidArgument(String),
    /// A per-run limit was reached (output bytes, output files, sign
    /// calls); the run will fail.
    LimitExceeded(String),
    /// The host cannot provide this service, e.g. no license-signing key.
    Unavailable(String),
    /// The host failed; not the plugin's fault.
    Internal(String),
}

impl HostError {
    pub(crate) fn from_wit(e: wit::HostError) -> Self {
        match e {
            wit::HostError::OutOfRange(m) => Self::OutOfRange(m),
            wit::HostError::InvalidArgument(m) => Self::InvalidArgument(m),
            wit::HostError::LimitExceeded(m) => Self::LimitExceeded(m),
            wit::HostError::Unavailable(m) => Self::Unavailable(m),
            wit::HostError::Internal(m) => Self::Internal(m),
        }
    }

    fn into_wit(self) -> wit::HostError {
        match self {
            Self::OutOfRange(m) => wit::HostError::OutOfRange(m),
            Self::InvalidArgument(m) => wit::HostError::InvalidArgument(m),
            Self::LimitExceeded(m) => wit::HostError::LimitExceeded(m),
            Self::Unavailable(m) => wit::HostError::Unavailable(m),
            Self::Internal(m) => wit::HostError::Internal(m),
        }
    }

    pub(crate) fn into_io(self) -> std::io::Error {
        let kind = match self {
            Self::OutOfRange(_) => std::io::ErrorKind::UnexpectedEof,
            Self::InvalidArgument(_) => std::io::ErrorKind::InvalidInput,
            Self::LimitExceeded(_) => std::io::ErrorKind::QuotaExceeded,
            Self::Unavailable(_) => std::io::ErrorKind::Unsupported,
            Self::Internal(_) => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, m) = match self {
            Self::OutOfRange(m) => ("out of range", m),
            Self::InvalidArgument(m) => ("invalid argument", m),
            Self::LimitExceeded(m) => ("limit exceeded", m),
            Self::Unavailable(m) => ("unavailable", m),
            Self::Internal(m) => ("internal", m),
        };
        write!(f, "{kind}: {m}")
    }
}

impl std::error::Error for HostError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_survive_a_trip_through_io() {
        let host = HostError::LimitExceeded("output bytes".into());
        let io = host.clone().into_io();
        assert_eq!(io.kind(), std::io::ErrorKind::QuotaExceeded);
        assert_eq!(Error::from(io), Error::Host(host));
        let other = std::io::Error::other("disk on fire");
        assert_eq!(Error::from(other), Error::Failed("disk on fire".into()));
    }

    #[test]
    fn errors_map_to_the_contract() {
        let e = Error::Host(HostError::Unavailable("no key".into())).into_wit();
        assert!(
            matches!(e, wit::PluginError::Host(wit::HostError::Unavailable(m)) if m == "no key")
        );
        assert!(matches!(
            Error::invalid_config("x").into_wit(),
            wit::PluginError::InvalidConfig(_)
        ));
        assert_eq!(
            Error::invalid_source("not a PDF").to_string(),
            "invalid source file: not a PDF"
        );
    }
}
