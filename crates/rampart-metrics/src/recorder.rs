//! The HTTP series and the per-request tracker that feeds them.
//!
//! A request touches only these families (a read lock and a hash lookup each,
//! a write lock the first time a label set is seen) and atomics: never the
//! registry's mutex, which only registration and scrapes take.

use std::{sync::Arc, time::Instant};

use http::{Request, Response, header::CONTENT_LENGTH};
use prometheus_client::{
    metrics::{
        counter::Counter,
        family::{Family, MetricConstructor},
        gauge::Gauge,
        histogram::Histogram,
    },
    registry::{Registry, Unit},
};

use crate::{
    MetricsBuilder, RouteLabel, StatusLabels,
    labels::{CLIENT_CLOSED, MethodLabel, RequestLabels, Route, RouteLabels, StatusLabel},
};

/// Makes each new histogram of a family with the configured bounds.
#[derive(Debug, Clone)]
pub(crate) struct Buckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

type Histograms = Family<RouteLabels, Histogram, Buckets>;

/// The HTTP series, shared by the layer, its services and the registry.
#[derive(Debug)]
pub(crate) struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Histograms,
    in_flight: Gauge,
    sizes: Option<(Histograms, Histograms)>,
    status: StatusLabels,
}

/// The names the HTTP series take in the registry (before `_total` and units).
pub(crate) const HTTP_NAMES: [&str; 5] = [
    "http_requests",
    "http_request_duration_seconds",
    "http_requests_in_flight",
    "http_request_size_bytes",
    "http_response_size_bytes",
];

impl HttpMetrics {
    pub(crate) fn register(builder: &MetricsBuilder, registry: &mut Registry) -> Self {
        let histograms = |bounds: &[f64]| Histograms::new_with_constructor(Buckets(bounds.into()));
        let this = Self {
            requests: Family::default(),
            duration: histograms(&builder.duration_buckets),
            in_flight: Gauge::default(),
            sizes: builder.body_sizes.then(|| {
                (
                    histograms(&builder.size_buckets),
                    histograms(&builder.size_buckets),
                )
            }),
            status: builder.status,
        };
        // The registry ends each help text with a full stop of its own.
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            this.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from the request's arrival to the end of its response body, by method and route template",
            Unit::Seconds,
            this.duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests whose response body has not ended yet",
            this.in_flight.clone(),
        );
        if let Some((request, response)) = &this.sizes {
            registry.register_with_unit(
                "http_request_size",
                "Request body sizes from Content-Length, by method and route template",
                Unit::Bytes,
                request.clone(),
            );
            registry.register_with_unit(
                "http_response_size",
                "Response body bytes sent, by method and route template",
                Unit::Bytes,
                response.clone(),
            );
        }
        this
    }
}

/// One request on its way through: made in `call`, carried by the response
/// future and then by the response body, and recorded when dropped. Whatever
/// ends the request (body sent, body dropped by a client that went away,
/// future dropped before the response, inner error), the drop records it
/// exactly once and the in-flight gauge goes back down.
#[derive(Debug)]
pub(crate) struct Tracker {
    metrics: Arc<HttpMetrics>,
    method: MethodLabel,
    route: Route,
    start: Instant,
    status: Option<StatusLabel>,
    request_size: Option<u64>,
    response_size: u64,
}

impl Tracker {
    pub(crate) fn start<B>(metrics: &Arc<HttpMetrics>, request: &Request<B>) -> Self {
        metrics.in_flight.inc();
        let request_size = match metrics.sizes {
            Some(_) => request
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            None => None,
        };
        Self {
            metrics: Arc::clone(metrics),
            method: MethodLabel::new(request.method()),
            route: Route::from_extensions(request.extensions()),
            start: Instant::now(),
            status: None,
            request_size,
            response_size: 0,
        }
    }

    /// The response's head is known: its status, and the route label when
    /// only the response carries one.
    pub(crate) fn respond<B>(&mut self, response: &Response<B>) {
        self.status = Some(StatusLabel::from_status(
            response.status(),
            self.metrics.status,
        ));
        if self.route.is_unmatched() {
            if let Some(label) = response.extensions().get::<RouteLabel>() {
                self.route = Route::Label(label.clone());
            }
        }
    }

    /// The inner service failed: counted as a 500, as the server will answer.
    pub(crate) fn fail(&mut self) {
        self.status = Some(StatusLabel::new(500, self.metrics.status));
    }

    pub(crate) fn add_response_bytes(&mut self, n: usize) {
        self.response_size = self.response_size.saturating_add(n as u64);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let seconds = self.start.elapsed().as_secs_f64();
        let metrics = &*self.metrics;
        let status = self
            .status
            .unwrap_or_else(|| StatusLabel::new(CLIENT_CLOSED, metrics.status));
        let labels = RouteLabels {
            method: self.method,
            route: std::mem::replace(&mut self.route, Route::Unmatched),
        };
        metrics.duration.get_or_create(&labels).observe(seconds);
        if let Some((request, response)) = &metrics.sizes {
            if let Some(size) = self.request_size {
                request.get_or_create(&labels).observe(size as f64);
            }
            if self.status.is_some() {
                response
                    .get_or_create(&labels)
                    .observe(self.response_size as f64);
            }
        }
        let labels = RequestLabels {
            method: labels.method,
            route: labels.route,
            status,
        };
        metrics.requests.get_or_create(&labels).inc();
        // Last, so that whoever sees the gauge fall sees the request counted.
        metrics.in_flight.dec();
    }
}
