//! What every exported span says about where it comes from.

use agent_trace_core::{Key, KeyValue, StringValue, Value};

use crate::ExportError;
use crate::headers::parse_key_value_list;

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
    /// [`from_env`](Self::from_env), or when `OTEL_RESOURCE_ATTRIBUTES`
    /// is malformed, `service.name` alone from `OTEL_SERVICE_NAME` (else
    /// `unknown_service`).
    fn default() -> Self {
        Self::from_env().unwrap_or_else(|_| Self::new(service_name_from_env(None)))
    }
}

/// `OTEL_SERVICE_NAME`, else the `service.name` of the resource
/// attributes, else `unknown_service`.
fn service_name_from_env(from_attributes: Option<&str>) -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| from_attributes.map(str::to_owned))
        .unwrap_or_else(|| "unknown_service".to_owned())
}

impl Resource {
    /// The resource the OpenTelemetry environment describes: the attributes
    /// of `OTEL_RESOURCE_ATTRIBUTES` (`key=value,key2=value2`, values
    /// percent-encoded, as strings), with `service.name` from
    /// `OTEL_SERVICE_NAME`, else from those attributes, else
    /// `unknown_service`.
    ///
    /// ```
    /// use agent_trace_export::Resource;
    ///
    /// // With neither variable set:
    /// if std::env::var_os("OTEL_SERVICE_NAME").is_none()
    ///     && std::env::var_os("OTEL_RESOURCE_ATTRIBUTES").is_none()
    /// {
    ///     assert_eq!(Resource::from_env()?.service_name(), "unknown_service");
    /// }
    /// # Ok::<(), agent_trace_export::ExportError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ExportError::Config`] naming `OTEL_RESOURCE_ATTRIBUTES` when an
    /// entry has no `=`, an empty key or bad percent-encoding.
    pub fn from_env() -> Result<Self, ExportError> {
        let pairs = match std::env::var("OTEL_RESOURCE_ATTRIBUTES") {
            Ok(list) => parse_key_value_list(&list, "attribute").map_err(|e| match e {
                ExportError::Config(m) => {
                    ExportError::Config(format!("OTEL_RESOURCE_ATTRIBUTES: {m}"))
                }
                other => other,
            })?,
            Err(_) => Vec::new(),
        };
        let from_attributes = pairs
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.as_str());
        let mut resource = Self::new(service_name_from_env(from_attributes));
        for (k, v) in pairs {
            if k != "service.name" {
                resource = resource.with_attribute(KeyValue::new(k, v));
            }
        }
        Ok(resource)
    }

    /// A resource for `service_name`, with the SDK attributes (and nothing
    /// from the environment; see [`from_env`](Self::from_env)).
    pub fn new(service_name: impl Into<String>) -> Self {
        let service_name = service_name.into();
        Self {
            // Static keys and values: constants, so nothing to copy.
            attributes: vec![
                KeyValue::new(Key::from_static("service.name"), service_name.clone()),
                KeyValue::new(
                    Key::from_static("telemetry.sdk.name"),
                    StringValue::from_static("agent-trace"),
                ),
                KeyValue::new(
                    Key::from_static("telemetry.sdk.language"),
                    StringValue::from_static("rust"),
                ),
                KeyValue::new(
                    Key::from_static("telemetry.sdk.version"),
                    StringValue::from_static(SCOPE_VERSION),
                ),
            ],
            service_name,
        }
    }

    /// Adds `service.version`.
    pub fn with_version(self, version: impl Into<String>) -> Self {
        self.with_attribute(KeyValue::new(
            Key::from_static("service.version"),
            version.into(),
        ))
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
