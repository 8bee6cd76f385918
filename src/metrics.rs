//! Prometheus metrics. Counters and histograms are this process's; gauges
//! about the shared database (open incidents, overdue items, the outbox) are
//! read at scrape time, so every replica reports the same truth.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabel {
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub channel: String,
    /// `sent`, `failed` (an attempt that failed), `cancelled`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DepartmentLabel {
    pub department: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route's template (`/links/{token}`), never the path: paths carry secrets.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClockLabels {
    /// The incident's reference (`INC-7F3A2C`): few incidents have running
    /// clocks at once, and each is what someone must act on.
    pub incident: String,
    pub regime: String,
    pub step: String,
}

pub struct Metrics {
    registry: Registry,
    pub incidents_open: Family<SeverityLabel, Gauge>,
    pub tasks_overdue: Gauge,
    pub outbox_depth: Gauge,
    pub outbox_oldest_age_seconds: Gauge<f64, AtomicU64>,
    pub outbox_stalled: Gauge,
    pub regulatory_remaining: Family<ClockLabels, Gauge>,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub time_to_acknowledge: Family<DepartmentLabel, Histogram>,
    pub http_requests: Family<HttpLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tocsin");
        let incidents_open = Family::<SeverityLabel, Gauge>::default();
        registry.register(
            "incidents_open",
            "Open incidents by severity",
            incidents_open.clone(),
        );
        let tasks_overdue = Gauge::default();
        registry.register(
            "tasks_overdue",
            "Open items past their acknowledgement or completion deadline",
            tasks_overdue.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register(
            "outbox_depth",
            "Messages waiting to be sent",
            outbox_depth.clone(),
        );
        let outbox_oldest_age_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest message waiting to be sent",
            outbox_oldest_age_seconds.clone(),
        );
        let outbox_stalled = Gauge::default();
        registry.register(
            "outbox_stalled",
            "1 when a due message has waited two minutes for a worker: nobody is delivering",
            outbox_stalled.clone(),
        );
        let regulatory_remaining = Family::<ClockLabels, Gauge>::default();
        registry.register(
            "regulatory_deadline_remaining_seconds",
            "Seconds to each regulatory deadline with nothing filed yet (negative once missed)",
            regulatory_remaining.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Delivery attempts by channel and outcome",
            deliveries.clone(),
        );
        // From ten seconds to about a day.
        let time_to_acknowledge =
            Family::<DepartmentLabel, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(10.0, 2.0, 14))
            });
        registry.register(
            "time_to_acknowledge_seconds",
            "From a department being asked to its acknowledgement",
            time_to_acknowledge.clone(),
        );
        // From half a millisecond to about eight seconds.
        let http_requests = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 15))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request durations by route and status",
            http_requests.clone(),
        );
        Metrics {
            registry,
            incidents_open,
            tasks_overdue,
            outbox_depth,
            outbox_oldest_age_seconds,
            outbox_stalled,
            regulatory_remaining,
            deliveries,
            time_to_acknowledge,
            http_requests,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    pub fn delivery(&self, channel: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                channel: channel.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}
