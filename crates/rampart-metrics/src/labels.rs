//! The label sets of the HTTP series. Every value comes from a closed set or
//! from the application's own route templates, never from raw request input.

use std::{
    fmt::Write as _,
    hash::{Hash, Hasher},
};

use http::{Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use rampart_core::RouteLabel;

/// The value of the `route` label: where it came from matters only for the
/// cost of getting it (an `Arc` clone each), not for equality.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    Unmatched,
    Label(RouteLabel),
    #[cfg(feature = "axum")]
    Matched(axum::extract::MatchedPath),
}

pub(crate) const UNMATCHED: &str = "unmatched";

impl Route {
    pub(crate) fn from_extensions(extensions: &http::Extensions) -> Self {
        #[cfg(feature = "axum")]
        if let Some(path) = extensions.get::<axum::extract::MatchedPath>() {
            return Self::Matched(path.clone());
        }
        match extensions.get::<RouteLabel>() {
            Some(label) => Self::Label(label.clone()),
            None => Self::Unmatched,
        }
    }

    pub(crate) fn is_unmatched(&self) -> bool {
        matches!(self, Self::Unmatched)
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Unmatched => UNMATCHED,
            Self::Label(label) => label.as_str(),
            #[cfg(feature = "axum")]
            Self::Matched(path) => path.as_str(),
        }
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// The `method` label: the nine methods of RFC 9110 and PATCH, anything
/// else is `OTHER`, so a client cannot invent label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other,
}

impl MethodLabel {
    pub(crate) fn new(method: &Method) -> Self {
        match *method {
            Method::GET => Self::Get,
            Method::HEAD => Self::Head,
            Method::POST => Self::Post,
            Method::PUT => Self::Put,
            Method::DELETE => Self::Delete,
            Method::CONNECT => Self::Connect,
            Method::OPTIONS => Self::Options,
            Method::TRACE => Self::Trace,
            Method::PATCH => Self::Patch,
            _ => Self::Other,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Patch => "PATCH",
            Self::Other => "OTHER",
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// How the `status` label is written.
///
/// # Example
///
/// ```
/// use rampart_metrics::{Metrics, StatusLabels};
///
/// // `2xx`, `4xx`, `5xx`: five values at most, for dashboards that only need classes.
/// let metrics = Metrics::builder().status_labels(StatusLabels::Class).build().unwrap();
/// # let _ = metrics;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StatusLabels {
    /// The three-digit code: `200`, `404`, `503` (the default).
    #[default]
    Code,
    /// The class: `1xx` to `5xx`.
    Class,
}

/// The status recorded for a request whose client went away before the
/// response started: nginx's "client closed request".
pub(crate) const CLIENT_CLOSED: u16 = 499;

/// The value of the `status` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct StatusLabel(u16);

impl StatusLabel {
    pub(crate) fn new(code: u16, mode: StatusLabels) -> Self {
        match mode {
            StatusLabels::Code => Self(code),
            // Stored as 1..=9 so that encoding tells the two apart.
            StatusLabels::Class => Self(code / 100),
        }
    }

    pub(crate) fn from_status(status: StatusCode, mode: StatusLabels) -> Self {
        Self::new(status.as_u16(), mode)
    }
}

impl EncodeLabelValue for StatusLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        if self.0 < 10 {
            write!(encoder, "{}xx", self.0)
        } else {
            write!(encoder, "{}", self.0)
        }
    }
}

/// `http_requests_total`'s labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) method: MethodLabel,
    pub(crate) route: Route,
    pub(crate) status: StatusLabel,
}

/// The labels of the duration and size histograms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) method: MethodLabel,
    pub(crate) route: Route,
}
