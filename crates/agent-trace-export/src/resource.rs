//! What every exported span says about where it comes from.

use agent_trace_core::{KeyValue, Value};

/// The instrumentation scope name every exporter sends.
pub const SCOPE_NAME: &str = "agent-trace";
/// The instrumentation scope version every exporter sends: this crate's.
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The service that produced the spans: `service.name`, `service.version`,
/// the `telemetry.sdk.*` attributes, and any attributes of your own.
///
/// ```
/// use agent_trace_export::Resource;
///
/// let r = Resource::new("research-agent").with_version("1.4.0");
/// assert_eq!(r.service_name(), "research-agent");
/// assert!(r.attributes().iter().any(|kv| kv.key.as_str() == "telemetry.sdk.language"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    service_name: String,
    attributes: Vec<KeyValue>,
}

impl Default for Resource {
    /// `service.name` from `OTEL_SERVICE_NAME`, else `unknown_service`
    /// (the OpenTelemetry default).
    fn default() -> Self {
        let name = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "unknown_service".to_owned());
        Self::new(name)
    }
}

impl Resource {
    /// A resource for `service_name`, with the SDK attributes.
    pub fn new(service_name: impl Into<String>) -> Self {
        let service_name = service_name.into();
        Self {
            attributes: vec![
                KeyValue::new("service.name", service_name.clone()),
                KeyValue::new("telemetry.sdk.name", "agent-trace"),
                KeyValue::new("telemetry.sdk.language", "rust"),
                KeyValue::new("telemetry.sdk.version", SCOPE_VERSION),
            ],
            service_name,
        }
    }

    /// Adds `service.version`.
    pub fn with_version(self, version: impl Into<String>) -> Self {
        self.with_attribute(KeyValue::new("service.version", version.into()))
    }

    /// Adds (or replaces) an attribute.
    pub fn with_attribute(mut self, kv: KeyValue) -> Self {
        if kv.key.as_str() == "service.name"
            && let Value::String(s) = &kv.value
        {
            self.service_name = s.as_str().to_owned();
        }
        match self.attributes.iter_mut().find(|a| a.key == kv.key) {
            Some(a) => *a = kv,
            None => self.attributes.push(kv),
        }
        self
    }

    /// `service.name`.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// Every attribute, `service.name` first.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_replace_by_key_and_service_name_follows() {
        let r = Resource::new("a")
            .with_version("1")
            .with_version("2")
            .with_attribute(KeyValue::new("service.name", "b"));
        assert_eq!(r.service_name(), "b");
        let versions: Vec<_> = r
            .attributes()
            .iter()
            .filter(|kv| kv.key.as_str() == "service.version")
            .collect();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].value.as_str(), Some("2"));
    }
}
