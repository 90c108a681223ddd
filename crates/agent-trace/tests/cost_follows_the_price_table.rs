//! A call's cost is what the price table says, token kind by token kind;
//! tables load from JSON, and from TOML with the feature `toml` (refused
//! with an error naming the feature without it), and bad ones are refused
//! with the line, column and field at fault.
//!
//! The TOML tests always run: this package's dev-dependency on
//! `agent-trace-genai` turns its `toml` feature on for test builds. That
//! TOML is refused without the feature is the cost crate's own unit test
//! (`cargo test -p agent-trace-genai`, which `cargo xtask ci` runs alone).

use std::path::PathBuf;

use agent_trace::cost::{
    BUILTIN_PRICES_AS_OF, CostError, Currency, ModelPrice, PriceTable, TableFormat, TokenUsage,
    Unpriced,
};
use agent_trace::semconv::provider_name;
use serde::Deserialize;

/// Hand-computed costs are sums of a few products; they agree with the
/// library's to the last couple of bits.
fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
        "{actual} != {expected}"
    );
}

/// A table of one made-up model with every price set, per million tokens.
fn full_table() -> PriceTable {
    PriceTable::from_json(
        r#"{
        "currency": "USD",
        "models": { "acme": { "acme-1": {
            "input": 3.0, "cached_input": 0.3, "cache_write": 3.75,
            "output": 15.0, "reasoning": 20.0
        } } }
        }"#,
    )
    .unwrap()
}

const USAGE: TokenUsage = TokenUsage {
    input: 10_000,
    cache_read_input: 6_000,
    cache_creation_input: 2_000,
    output: 3_000,
    reasoning_output: 1_000,
};

#[test]
fn each_token_is_priced_once_by_its_kind() {
    // Input 10,000 includes 6,000 cache reads and 2,000 cache writes, so
    // 2,000 are plain input; output 3,000 includes 1,000 reasoning tokens.
    //   2,000 x 3.00 =  6,000
    //   6,000 x 0.30 =  1,800
    //   2,000 x 3.75 =  7,500
    //   2,000 x 15   = 30,000
    //   1,000 x 20   = 20,000
    //                  65,300 per million = 0.0653
    let cost = full_table().price("acme", "acme-1", &USAGE).unwrap();
    assert_close(cost.amount, 0.0653);
    assert_eq!(cost.currency, Currency::USD);
}

#[test]
fn kinds_without_a_price_take_the_price_of_their_total() {
    let table = PriceTable::from_json(
        r#"{
        "currency": "USD",
        "models": { "acme": { "acme-1": { "input": 3.0, "output": 15.0 } } }
        }"#,
    )
    .unwrap();
    // No discounts: 10,000 x 3 + 3,000 x 15 = 75,000 per million.
    let cost = table.price("acme", "acme-1", &USAGE).unwrap();
    assert_close(cost.amount, 0.075);

    let price = table.get("acme", "acme-1").unwrap();
    assert_eq!(price.cached_input(), 3.0);
    assert_eq!(price.cache_write(), 3.0);
    assert_eq!(price.reasoning(), 15.0);
}

#[test]
fn parts_larger_than_their_total_are_priced_as_given_never_negative() {
    // 150 cache reads out of 100 input tokens, 50 reasoning out of 0
    // output: the parts are priced, the rest of each total is zero.
    let usage = TokenUsage {
        input: 100,
        cache_read_input: 150,
        output: 0,
        reasoning_output: 50,
        ..TokenUsage::default()
    };
    // 150 x 0.3 + 50 x 20 = 45 + 1,000 = 1,045 per million.
    let cost = full_table().price("acme", "acme-1", &usage).unwrap();
    assert_close(cost.amount, 0.001045);
}

#[test]
fn a_call_with_no_tokens_costs_zero_and_is_priced() {
    let cost = full_table()
        .price("acme", "acme-1", &TokenUsage::default())
        .unwrap();
    assert_eq!(cost.amount, 0.0);
}

#[test]
fn prices_set_in_code_are_checked_and_used() {
    let price = ModelPrice::new(1.0, 2.0)
        .unwrap()
        .with_cached_input(0.5)
        .unwrap()
        .with_cache_write(1.25)
        .unwrap()
        .with_reasoning(4.0)
        .unwrap();
    // 2,000 x 1 + 6,000 x 0.5 + 2,000 x 1.25 + 2,000 x 2 + 1,000 x 4
    // = 2,000 + 3,000 + 2,500 + 4,000 + 4,000 = 15,500 per million.
    assert_close(price.cost(&USAGE), 0.0155);

    for bad in [-0.01, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(
            ModelPrice::new(bad, 1.0),
            Err(CostError::InvalidPrice { .. })
        ));
        assert!(matches!(
            ModelPrice::new(1.0, 1.0).unwrap().with_reasoning(bad),
            Err(CostError::InvalidPrice { .. })
        ));
    }
}

#[test]
fn models_match_exactly_then_without_a_date_suffix() {
    let table = PriceTable::new(Currency::USD)
        .with_price("openai", "gpt-4o", ModelPrice::new(2.5, 10.0).unwrap())
        .with_price("openai", "gpt-4o-mini", ModelPrice::new(0.15, 0.6).unwrap())
        .with_price(
            "anthropic",
            "claude-sonnet-4",
            ModelPrice::new(3.0, 15.0).unwrap(),
        );
    let input = |model: &str, provider: &str| table.get(provider, model).map(|p| p.input());
    assert_eq!(input("gpt-4o", "openai"), Some(2.5));
    assert_eq!(input("gpt-4o-2024-08-06", "openai"), Some(2.5));
    // The longest name wins: a dated gpt-4o-mini is not gpt-4o.
    assert_eq!(input("gpt-4o-mini-2024-07-18", "openai"), Some(0.15));
    assert_eq!(input("claude-sonnet-4-20250514", "anthropic"), Some(3.0));
    // Not a date, another provider, another case: unpriced.
    assert_eq!(input("gpt-4o-0613", "openai"), None);
    assert_eq!(input("gpt-4o", "azure.ai.openai"), None);
    assert_eq!(input("GPT-4o", "openai"), None);

    let err = table
        .price("openai", "gpt-5-turbo", &TokenUsage::default())
        .unwrap_err();
    assert_eq!(
        err,
        Unpriced {
            provider: "openai".into(),
            model: "gpt-5-turbo".into()
        }
    );
    assert_eq!(
        err.to_string(),
        r#"no price for model "gpt-5-turbo" of provider "openai""#
    );
}

#[test]
fn the_built_in_table_parses_is_dated_and_prices_well_known_models() {
    let table = PriceTable::builtin();
    assert_eq!(table.currency(), Currency::USD);
    assert_eq!(table.as_of(), Some(BUILTIN_PRICES_AS_OF));
    assert!(table.source().unwrap().contains(BUILTIN_PRICES_AS_OF));
    assert!(table.len() >= 20, "{} models", table.len());
    let known = [
        provider_name::OPENAI,
        provider_name::ANTHROPIC,
        provider_name::GCP_GEMINI,
        provider_name::DEEPSEEK,
    ];
    for (provider, model, price) in table.iter() {
        assert!(
            known.contains(&provider),
            "{provider} is not a gen_ai.provider.name we use"
        );
        for p in [
            price.input(),
            price.output(),
            price.cached_input(),
            price.cache_write(),
            price.reasoning(),
        ] {
            assert!(p.is_finite() && p >= 0.0, "{provider}/{model}: {p}");
        }
        // A discount, never a surcharge, on cache reads.
        assert!(price.cached_input() <= price.input(), "{provider}/{model}");
    }

    // gpt-4o, dated: 500,000 plain input x 2.50 + 500,000 cached x 1.25 +
    // 100,000 output x 10.00 = 2,875,000 per million.
    let usage = TokenUsage {
        input: 1_000_000,
        cache_read_input: 500_000,
        output: 100_000,
        ..TokenUsage::default()
    };
    let cost = table.price("openai", "gpt-4o-2024-08-06", &usage).unwrap();
    assert_close(cost.amount, 2.875);

    // Claude Sonnet 4, dated, with a cache write: 1,000 plain x 3.00 +
    // 2,000 written x 3.75 + 500 output x 15.00 = 18,000 per million.
    let usage = TokenUsage {
        input: 3_000,
        cache_creation_input: 2_000,
        output: 500,
        ..TokenUsage::default()
    };
    let cost = table
        .price("anthropic", "claude-sonnet-4-20250514", &usage)
        .unwrap();
    assert_close(cost.amount, 0.018);
}

const TOML_TABLE: &str = r#"
currency = "EUR"
as_of = "2026-01-15"
source = "our contract"

[models.openai."gpt-4o"]
input = 2.0
cached_input = 1.0
output = 8

[models."gcp.gemini"."gemini-2.5-pro"]
input = 1.0
output = 9.0
reasoning = 9.5
"#;

const JSON_TABLE: &str = r#"{
  "currency": "EUR",
  "as_of": "2026-01-15",
  "source": "our contract",
  "models": {
    "openai": { "gpt-4o": { "input": 2.0, "cached_input": 1.0, "output": 8 } },
    "gcp.gemini": { "gemini-2.5-pro": { "input": 1, "output": 9.0, "reasoning": 9.5 } }
  }
}"#;

#[test]
fn a_json_table_reads_every_field() {
    let from_json = PriceTable::from_json(JSON_TABLE).unwrap();
    assert_eq!(from_json.currency(), Currency::new("EUR").unwrap());
    assert_eq!(from_json.as_of(), Some("2026-01-15"));
    assert_eq!(from_json.source(), Some("our contract"));
    assert_eq!(from_json.len(), 2);
    let gemini = from_json.get("gcp.gemini", "gemini-2.5-pro").unwrap();
    assert_eq!((gemini.output(), gemini.reasoning()), (9.0, 9.5));
    let gpt = from_json.get("openai", "gpt-4o").unwrap();
    assert_eq!(
        (gpt.input(), gpt.cached_input(), gpt.output()),
        (2.0, 1.0, 8.0)
    );
    // Every price as set in code (the source is not settable in code).
    let expected = PriceTable::new(Currency::new("EUR").unwrap())
        .with_as_of("2026-01-15")
        .with_price(
            "openai",
            "gpt-4o",
            ModelPrice::new(2.0, 8.0)
                .unwrap()
                .with_cached_input(1.0)
                .unwrap(),
        )
        .with_price(
            "gcp.gemini",
            "gemini-2.5-pro",
            ModelPrice::new(1.0, 9.0)
                .unwrap()
                .with_reasoning(9.5)
                .unwrap(),
        );
    for (provider, model, price) in expected.iter() {
        assert_eq!(
            from_json.get(provider, model),
            Some(price),
            "{provider}/{model}"
        );
    }
    assert_eq!(
        PriceTable::parse(JSON_TABLE, TableFormat::Json).unwrap(),
        from_json
    );
}

#[test]
fn toml_and_json_give_the_same_table() {
    let from_toml = PriceTable::from_toml(TOML_TABLE).unwrap();
    let from_json = PriceTable::from_json(JSON_TABLE).unwrap();
    assert_eq!(from_toml, from_json);
    assert_eq!(from_toml.source(), Some("our contract"));
    assert_eq!(
        PriceTable::parse(TOML_TABLE, TableFormat::Toml).unwrap(),
        from_toml
    );
}

/// A file in a directory of this test process's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("agent-trace-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn files_load_by_their_extension() {
    let dir = TempDir::new("price-files");
    let expected = PriceTable::from_json(JSON_TABLE).unwrap();
    for name in ["prices.json", "PRICES.JSON"] {
        let path = dir.file(name, JSON_TABLE);
        assert_eq!(PriceTable::load(&path).unwrap(), expected, "{name}");
    }

    // A TOML-looking text in a .json file is read as JSON, and refused as
    // such.
    let path = dir.file("wrong.json", "currency = \"USD\"\n");
    assert!(matches!(
        PriceTable::load(&path),
        Err(CostError::Parse {
            format: TableFormat::Json,
            ..
        })
    ));

    let path = dir.file("prices.yaml", "currency: USD");
    match PriceTable::load(&path) {
        Err(CostError::UnknownFormat { path: p }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    let missing = dir.0.join("missing.json");
    match PriceTable::load(&missing) {
        Err(e @ CostError::Read { .. }) => {
            let source = std::error::Error::source(&e).unwrap();
            let io = source.downcast_ref::<std::io::Error>().unwrap();
            assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
            assert!(e.to_string().contains("missing.json"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn toml_files_load_as_toml() {
    let dir = TempDir::new("toml-price-files");
    let expected = PriceTable::from_json(JSON_TABLE).unwrap();
    for name in ["prices.toml", "PRICES.TOML"] {
        let path = dir.file(name, TOML_TABLE);
        assert_eq!(PriceTable::load(&path).unwrap(), expected, "{name}");
    }

    // A JSON text in a .toml file is read as TOML, and refused as such.
    let path = dir.file("wrong.toml", JSON_TABLE);
    assert!(matches!(
        PriceTable::load(&path),
        Err(CostError::Parse {
            format: TableFormat::Toml,
            ..
        })
    ));

    let missing = dir.0.join("missing.toml");
    assert!(matches!(
        PriceTable::load(&missing),
        Err(CostError::Read { .. })
    ));
}

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    format: String,
    text: String,
    line: usize,
    column: usize,
    field: String,
    message: String,
}

/// Parses `case.text` and checks that it is refused where the case says.
fn check(case: &Case) -> Result<(), String> {
    let format = match case.format.as_str() {
        "toml" => TableFormat::Toml,
        "json" => TableFormat::Json,
        f => return Err(format!("unknown format {f}")),
    };
    match PriceTable::parse(&case.text, format) {
        Ok(_) => Err("accepted".into()),
        Err(
            ref e @ CostError::Parse {
                format: f,
                line,
                column,
                ref field,
                ref message,
            },
        ) => {
            let ok = f == format
                && line == case.line
                && column == case.column
                && *field == case.field
                && message.contains(&case.message);
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "got line {line}, column {column}, field `{field}`, message {message:?} ({e})"
                ))
            }
        }
        Err(e) => Err(format!("not a parse error: {e:?}")),
    }
}

#[test]
fn malformed_tables_are_refused_with_line_and_field() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/malformed_price_tables.toml"
    );
    let cases: Cases = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.case.len() >= 10);
    for format in ["toml", "json"] {
        assert!(cases.case.iter().any(|c| c.format == format), "{format}");
    }
    let failures: Vec<String> = cases
        .case
        .iter()
        .filter_map(|c| {
            check(c)
                .err()
                .map(|e| format!("{} ({}): {e}", c.name, c.format))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_json_parse_error_says_where_and_what() {
    let err = PriceTable::from_json(
        "{\"currency\": \"USD\",\n \"models\": {\"openai\": {\"gpt-4o\": {\n  \"input\": -1, \"output\": 1}}}}",
    )
    .unwrap_err();
    // Column 13: serde_json stands on the last character of `-1`.
    assert_eq!(
        err.to_string(),
        "invalid JSON price table at line 3, column 13, field `models.openai.gpt-4o.input`: \
         a price must be a finite number, 0 or more; found -1"
    );
}

#[test]
fn a_toml_parse_error_says_where_and_what() {
    let err = PriceTable::from_toml(
        "currency = \"USD\"\n[models.openai.\"gpt-4o\"]\ninput = -1\noutput = 1\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid TOML price table at line 3, column 9, field `models.openai.gpt-4o.input`: \
         a price must be a finite number, 0 or more; found -1"
    );
}

#[test]
fn currencies_are_three_capital_letters() {
    assert_eq!(Currency::new("JPY").unwrap().as_str(), "JPY");
    for bad in ["", "US", "USDT", "usd", "U$D", "ÜSD"] {
        assert!(
            matches!(Currency::new(bad), Err(CostError::InvalidCurrency { .. })),
            "{bad}"
        );
    }
}
