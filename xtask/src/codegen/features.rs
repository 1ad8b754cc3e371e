//! `features.rs`: the feature table of a spec whose tags carry `x-feature`, and one dispatch
//! function per operation role.
//!
//! The table is read off the spec:
//!
//! - `slug`: the run-task path after its last `/task/`;
//! - `limits`: the `x-limits` of the feature's upload (`create_file`), else of its run task;
//! - `upload_types`: the `content_type` enum of the upload request;
//! - `outputs`: the `output_ext` enum (and default) of the run-task request;
//! - `inputs`: the arrays under the run-task request's `file_sets` (`src_ids` → slot `src`),
//!   or its `<slot>_file_id` fields with their `<slot>_file_url` alternatives (one file each)
//!   and `<slot>_file_ids` lists with their `<slot>_file_urls` alternatives;
//!   `min`/`max` come from `minItems`/`maxItems` or the required flag;
//! - `params`: the properties of `actions[].params`, or the run-task request's other top-level
//!   properties;
//! - `catalogue`: style lists or template lists, by the roles present;
//! - `costs`: the run task's `x-cost`.
//!
//! The dispatch functions (`Feature::run_task`, `Feature::check_status`, ...) call the right
//! generated builder for a feature. Their arguments are the builders' own parameter types; a
//! JSON body is checked against the operation's generated body type before sending. When the
//! features answer a role with different types, the dispatch answers with an enum over them
//! (`CheckStatusAnswer`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Result, anyhow, bail};
use heck::{ToShoutySnakeCase, ToUpperCamelCase};
use quote::ToTokens as _;
use serde_json::Value;

use crate::codegen::service::applies_to;
use crate::facts;
use crate::model::{self, Feature};
use crate::spec::Spec;

/// The module source, or `None` when the spec declares no feature.
pub fn module(spec: &Spec, client: &syn::File) -> Result<Option<String>> {
    let features = model::features(spec).map_err(|problems| {
        let lines: Vec<String> = problems
            .into_iter()
            .map(|(pointer, reason)| format!("{}: {pointer}: {reason}", spec.path.display()))
            .collect();
        anyhow!("{}", lines.join("\n"))
    })?;
    if features.is_empty() {
        return Ok(None);
    }
    let builders = Builders::read(client);
    let mut out = format!(
        "//! The features of `specs/{provider}.yaml` (tags with `x-feature`): what each takes and\n\
         //! offers, and dispatch to its operations by role.\n\n\
         #[allow(unused_imports)]\n\
         use pixmill_spec::features::{{Catalogue, FeatureFacts, FeatureOperation, FileSlot}};\n\
         #[allow(unused_imports)]\n\
         use pixmill_spec::{{AppliesTo, Cost, CostBasis, FacePose, InputLimits}};\n\n\
         #[allow(unused_imports)]\n\
         use crate::{{Client, Error, ResponseValue, types}};\n\n",
        provider = spec.provider
    );
    let tables: Vec<Table> = features
        .iter()
        .map(|feature| Table::read(spec, feature))
        .collect::<Result<_>>()?;

    feature_enum(&features, &tables, &mut out);
    output_enum(&tables, &mut out);
    for (feature, table) in features.iter().zip(&tables) {
        table.write_const(feature, &mut out);
    }
    dispatch(spec, &features, &builders, &mut out)?;
    Ok(Some(out))
}

/// The facts of one feature, ready to print.
struct Table {
    slug: String,
    limits_const: Option<String>,
    upload_types: Vec<String>,
    outputs: Vec<String>,
    default_output: Option<String>,
    inputs: Vec<Slot>,
    params: Vec<String>,
    catalogue: Option<&'static str>,
    costs: Vec<facts::CostRow>,
    /// The status operation's id, when it has `x-polling`.
    polling: Option<String>,
}

struct Slot {
    name: String,
    id_field: String,
    url_field: Option<String>,
    min: usize,
    max: Option<usize>,
}

impl Table {
    fn read(spec: &Spec, feature: &Feature<'_>) -> Result<Table> {
        let run = feature
            .operation("run_task")
            .ok_or_else(|| anyhow!("feature `{}` has no run_task", feature.name))?;
        let slug = match run.path.rfind("/task/") {
            Some(at) => run.path[at + "/task/".len()..].to_string(),
            None => run.path.rsplit('/').next().unwrap_or_default().to_string(),
        };
        let limits_op = feature
            .operation("create_file")
            .filter(|op| op.value.get("x-limits").is_some())
            .or_else(|| Some(run).filter(|op| op.value.get("x-limits").is_some()));
        let limits_const = limits_op.map(|op| op.id().to_shouty_snake_case());
        let upload_types = feature
            .operation("create_file")
            .and_then(|op| request_schema(spec, op.value))
            .and_then(|body| find_property(spec, body, "content_type"))
            .map(|schema| enum_strings(spec, schema))
            .unwrap_or_default();
        let body = request_schema(spec, run.value)
            .ok_or_else(|| anyhow!("{}: run task has no JSON body", run.id()))?;
        let output = find_property(spec, body, "output_ext");
        let outputs = output.map(|s| enum_strings(spec, s)).unwrap_or_default();
        let default_output = output
            .and_then(|s| default_of(spec, s))
            .and_then(|d| d.as_str().map(str::to_string));
        let (inputs, params) = shape(spec, body);
        let catalogue = if feature.operation("list_templates").is_some() {
            Some("Templates")
        } else if feature.operation("list_style_groups").is_some()
            || feature.operation("list_styles").is_some()
        {
            Some("Styles")
        } else {
            None
        };
        let costs = match run.value.get("x-cost") {
            Some(value) => facts::parse_costs(value)
                .map_err(|e| anyhow!("{}: {}: {e}", spec.path.display(), run.pointer()))?,
            None => Vec::new(),
        };
        let polling = feature
            .operation("check_status")
            .filter(|op| op.value.get("x-polling").is_some())
            .map(|op| op.id().to_string());
        Ok(Table {
            polling,
            slug,
            limits_const,
            upload_types,
            outputs,
            default_output,
            inputs,
            params,
            catalogue,
            costs,
        })
    }

    fn write_const(&self, feature: &Feature<'_>, out: &mut String) {
        let name = feature.name.to_shouty_snake_case();
        let operations: Vec<String> = feature
            .operations
            .iter()
            .map(|op| {
                format!(
                    "FeatureOperation {{ role: {:?}, operation_id: {:?}, method: {:?}, path: {:?} }}",
                    op.role,
                    op.operation.id(),
                    op.operation.method.to_uppercase(),
                    op.operation.path
                )
            })
            .collect();
        let inputs: Vec<String> = self
            .inputs
            .iter()
            .map(|slot| {
                format!(
                    "FileSlot {{ name: {:?}, id_field: {:?}, url_field: {}, min: {}, max: {} }}",
                    slot.name,
                    slot.id_field,
                    option_str(slot.url_field.as_deref()),
                    slot.min,
                    match slot.max {
                        Some(max) => format!("Some({max})"),
                        None => "None".into(),
                    }
                )
            })
            .collect();
        let costs: Vec<String> = self
            .costs
            .iter()
            .map(|row| {
                format!(
                    "Cost {{ units: {:?}, per: CostBasis::{}, applies_to: {}, source: {:?} }}",
                    row.units,
                    if row.per == "call" { "Call" } else { "Result" },
                    applies_to(row.applies_to.as_ref()),
                    row.source.as_deref().unwrap_or("docs")
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "/// The facts of {title}.\npub const {name}: FeatureFacts = FeatureFacts {{\n\
             name: {feature_name:?},\ntitle: {title:?},\nslug: {slug:?},\n\
             operations: &[{operations}],\nlimits: {limits},\nupload_types: &{uploads:?},\n\
             outputs: &{outputs:?},\ndefault_output: {default_output},\ninputs: &[{inputs}],\n\
             params: &{params:?},\ncatalogue: {catalogue},\ncosts: &[{costs}],\npolling: {polling},\n}};\n",
            title = feature.title,
            feature_name = feature.name,
            slug = self.slug,
            operations = operations.join(", "),
            limits = match &self.limits_const {
                Some(name) => format!("crate::limits::{name}"),
                None => "&[]".into(),
            },
            uploads = self.upload_types,
            outputs = self.outputs,
            default_output = option_str(self.default_output.as_deref()),
            inputs = inputs.join(", "),
            params = self.params,
            catalogue = match self.catalogue {
                Some(kind) => format!("Some(Catalogue::{kind})"),
                None => "None".into(),
            },
            costs = costs.join(", "),
            polling = match &self.polling {
                Some(id) => format!("crate::service::{id}::POLLING"),
                None => "&[]".into(),
            },
        );
    }
}

fn option_str(value: Option<&str>) -> String {
    match value {
        Some(text) => format!("Some({text:?})"),
        None => "None".into(),
    }
}

/// The JSON request body schema of an operation, `$ref`s followed.
fn request_schema<'a>(spec: &'a Spec, op: &'a Value) -> Option<&'a Value> {
    let body = spec.deref(op.get("requestBody")?);
    let schema = body.pointer("/content/application~1json/schema")?;
    Some(resolve(spec, schema))
}

/// Follows `$ref`s and single-entry `allOf` wrappers.
fn resolve<'a>(spec: &'a Spec, schema: &'a Value) -> &'a Value {
    let mut current = spec.deref(schema);
    for _ in 0..8 {
        match current
            .get("allOf")
            .and_then(Value::as_array)
            .filter(|all| all.len() == 1)
        {
            Some(all) => current = spec.deref(&all[0]),
            None => break,
        }
    }
    current
}

/// The properties of an object schema, resolved.
fn properties<'a>(spec: &'a Spec, schema: &'a Value) -> Vec<(&'a String, &'a Value)> {
    resolve(spec, schema)
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, value)| (name, resolve(spec, value)))
        .collect()
}

fn required<'a>(spec: &'a Spec, schema: &'a Value) -> Vec<&'a str> {
    resolve(spec, schema)
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The first property called `name`, searched breadth-first through objects and arrays.
fn find_property<'a>(spec: &'a Spec, schema: &'a Value, name: &str) -> Option<&'a Value> {
    let mut queue = vec![resolve(spec, schema)];
    let mut steps = 0;
    while let Some(current) = (!queue.is_empty()).then(|| queue.remove(0)) {
        steps += 1;
        if steps > 256 {
            return None;
        }
        for (key, value) in properties(spec, current) {
            if key == name {
                return Some(value);
            }
            queue.push(value);
        }
        if let Some(items) = current.get("items") {
            queue.push(resolve(spec, items));
        }
    }
    None
}

fn enum_strings(spec: &Spec, schema: &Value) -> Vec<String> {
    let schema = resolve(spec, schema);
    let schema = schema
        .get("items")
        .map(|items| resolve(spec, items))
        .unwrap_or(schema);
    schema
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn default_of<'a>(spec: &'a Spec, schema: &'a Value) -> Option<&'a Value> {
    spec.deref(schema)
        .get("default")
        .or_else(|| resolve(spec, schema).get("default"))
}

/// Input slots and other settings of a run-task request.
fn shape(spec: &Spec, body: &Value) -> (Vec<Slot>, Vec<String>) {
    let fields = properties(spec, body);
    let inputs: Vec<Slot> = match find_property(spec, body, "file_sets") {
        Some(file_sets) => {
            let needed = required(spec, file_sets);
            properties(spec, file_sets)
                .into_iter()
                .map(|(field, schema)| Slot {
                    name: field.trim_end_matches("_ids").to_string(),
                    id_field: field.clone(),
                    url_field: None,
                    min: schema
                        .get("minItems")
                        .and_then(Value::as_u64)
                        .map(|n| n as usize)
                        .unwrap_or(usize::from(needed.contains(&field.as_str()))),
                    max: schema
                        .get("maxItems")
                        .and_then(Value::as_u64)
                        .map(|n| n as usize),
                })
                .collect()
        }
        None => {
            let needed = required(spec, body);
            fields
                .iter()
                .filter_map(|(field, schema)| {
                    // One file (`src_file_id`) or a list of them (`src_file_ids`), each with
                    // its URL alternative (`src_file_url`, `src_file_urls`).
                    let (name, list) = match field.strip_suffix("_file_ids") {
                        Some(name) => (name, true),
                        None => (field.strip_suffix("_file_id")?, false),
                    };
                    let url = format!("{name}_file_url{}", if list { "s" } else { "" });
                    let url_field = fields
                        .iter()
                        .find(|(f, _)| **f == url)
                        .map(|(f, _)| f.to_string());
                    let required = needed.contains(&field.as_str())
                        || url_field.as_deref().is_some_and(|u| needed.contains(&u));
                    let items =
                        |key: &str| schema.get(key).and_then(Value::as_u64).map(|n| n as usize);
                    let (min, max) = if list {
                        let min = if required {
                            items("minItems").unwrap_or(1)
                        } else {
                            0
                        };
                        (min, items("maxItems"))
                    } else {
                        (usize::from(required), Some(1))
                    };
                    Some(Slot {
                        name: name.to_string(),
                        id_field: field.to_string(),
                        url_field,
                        min,
                        max,
                    })
                })
                .collect()
        }
    };
    let params = match find_property(spec, body, "params") {
        Some(params) => properties(spec, params)
            .into_iter()
            .map(|(name, _)| name.clone())
            .collect(),
        None if find_property(spec, body, "actions").is_some() => Vec::new(),
        None => {
            let taken: Vec<&str> = inputs
                .iter()
                .flat_map(|slot: &Slot| [Some(slot.id_field.as_str()), slot.url_field.as_deref()])
                .flatten()
                .collect();
            fields
                .iter()
                .map(|(f, _)| f.to_string())
                .filter(|f| !taken.contains(&f.as_str()) && f != "output_ext")
                .collect()
        }
    };
    (inputs, params)
}

fn feature_enum(features: &[Feature<'_>], tables: &[Table], out: &mut String) {
    let variants: Vec<String> = features
        .iter()
        .map(|f| f.name.to_upper_camel_case())
        .collect();
    let _ = writeln!(
        out,
        "/// A feature of the API.\n#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[non_exhaustive]\npub enum Feature {{"
    );
    for (feature, variant) in features.iter().zip(&variants) {
        let about = feature
            .description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        let _ = writeln!(out, "/// {}{about}\n{variant},", feature.title);
    }
    let _ = writeln!(out, "}}\n");
    let all: Vec<String> = variants.iter().map(|v| format!("Feature::{v}")).collect();
    let names: Vec<String> = features.iter().map(|f| format!("{:?}", f.name)).collect();
    let _ = writeln!(
        out,
        "impl Feature {{\n/// Every feature, in the spec's order.\npub const ALL: &'static [Feature] = &[{}];\n\n\
         /// Every feature's name, in the spec's order.\npub const NAMES: &'static [&'static str] = &[{}];\n",
        all.join(", "),
        names.join(", ")
    );
    let _ = writeln!(
        out,
        "/// What the spec says about this feature.\npub const fn facts(self) -> &'static FeatureFacts {{\nmatch self {{"
    );
    for (feature, variant) in features.iter().zip(&variants) {
        let _ = writeln!(
            out,
            "Feature::{variant} => &{},",
            feature.name.to_shouty_snake_case()
        );
    }
    let _ = writeln!(
        out,
        "}}\n}}\n\n/// The snake_case name (`{}`).\npub const fn name(self) -> &'static str {{\nself.facts().name\n}}\n",
        features[0].name
    );
    let _ = writeln!(
        out,
        "/// The output formats a task may ask for, in the spec's order.\npub fn outputs(self) -> &'static [OutputFormat] {{\nmatch self {{"
    );
    for (table, variant) in tables.iter().zip(&variants) {
        let formats: Vec<String> = table
            .outputs
            .iter()
            .map(|o| format!("OutputFormat::{}", o.to_upper_camel_case()))
            .collect();
        let _ = writeln!(out, "Feature::{variant} => &[{}],", formats.join(", "));
    }
    let _ = writeln!(out, "}}\n}}\n}}\n");
    let _ = writeln!(
        out,
        "impl ::std::fmt::Display for Feature {{\nfn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{\nf.write_str(self.name())\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::std::str::FromStr for Feature {{\ntype Err = ::pixmill_spec::UndocumentedValue;\nfn from_str(name: &str) -> ::std::result::Result<Self, Self::Err> {{\nFeature::ALL.iter().copied().find(|f| f.name() == name).ok_or_else(|| ::pixmill_spec::UndocumentedValue::new(\"Feature\", name, Feature::NAMES))\n}}\n}}\n"
    );
}

/// The union of every feature's output formats, as a closed enum.
fn output_enum(tables: &[Table], out: &mut String) {
    let mut formats: Vec<&String> = Vec::new();
    for table in tables {
        for format in &table.outputs {
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
    }
    let _ = writeln!(
        out,
        "/// An output format some feature offers (see [`Feature::outputs`]).\n#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[non_exhaustive]\npub enum OutputFormat {{"
    );
    for format in &formats {
        let _ = writeln!(out, "/// `{format}`\n{},", format.to_upper_camel_case());
    }
    let _ = writeln!(out, "}}\n");
    let all: Vec<String> = formats
        .iter()
        .map(|f| format!("OutputFormat::{}", f.to_upper_camel_case()))
        .collect();
    let values: Vec<String> = formats.iter().map(|f| format!("{f:?}")).collect();
    let _ = writeln!(
        out,
        "impl OutputFormat {{\n/// Every format, in the order the spec first names them.\npub const ALL: &'static [OutputFormat] = &[{}];\n\n\
         /// Every format as text.\npub const VALUES: &'static [&'static str] = &[{}];\n\n\
         /// The value on the wire.\npub const fn as_str(self) -> &'static str {{\nmatch self {{",
        all.join(", "),
        values.join(", ")
    );
    for format in &formats {
        let _ = writeln!(
            out,
            "OutputFormat::{} => {format:?},",
            format.to_upper_camel_case()
        );
    }
    let _ = writeln!(out, "}}\n}}\n}}\n");
    let _ = writeln!(
        out,
        "impl ::std::fmt::Display for OutputFormat {{\nfn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {{\nf.write_str(self.as_str())\n}}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl ::std::str::FromStr for OutputFormat {{\ntype Err = ::pixmill_spec::UndocumentedValue;\nfn from_str(text: &str) -> ::std::result::Result<Self, Self::Err> {{\nOutputFormat::ALL.iter().copied().find(|f| f.as_str().eq_ignore_ascii_case(text)).ok_or_else(|| ::pixmill_spec::UndocumentedValue::new(\"OutputFormat\", text, OutputFormat::VALUES))\n}}\n}}\n"
    );
}

/// A generated builder: its parameters (name, type as written) and what `send` answers.
#[derive(Debug, Clone)]
struct Builder {
    params: Vec<(String, String)>,
    /// The body's generated type (`types::StyleRunTaskRequest`), when it takes one.
    body: Option<String>,
    success: String,
    error: String,
}

/// Every builder of the generated client, by struct name.
struct Builders(BTreeMap<String, Builder>);

impl Builders {
    fn read(client: &syn::File) -> Builders {
        let mut fields: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let mut sends: BTreeMap<String, (String, String)> = BTreeMap::new();
        let Some(items) = client.items.iter().find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "builder" => m.content.as_ref().map(|(_, i)| i),
            _ => None,
        }) else {
            return Builders(BTreeMap::new());
        };
        for item in items {
            match item {
                syn::Item::Struct(s) => {
                    let list = s
                        .fields
                        .iter()
                        .filter_map(|f| {
                            let name = f.ident.as_ref()?.to_string();
                            (name != "client").then(|| (name, compact(&f.ty)))
                        })
                        .collect();
                    fields.insert(s.ident.to_string(), list);
                }
                syn::Item::Impl(i) => {
                    let syn::Type::Path(path) = &*i.self_ty else {
                        continue;
                    };
                    let Some(name) = path.path.segments.last().map(|s| s.ident.to_string()) else {
                        continue;
                    };
                    for inner in &i.items {
                        if let syn::ImplItem::Fn(f) = inner
                            && f.sig.ident == "send"
                            && let syn::ReturnType::Type(_, ty) = &f.sig.output
                            && let Some(parts) = send_types(&compact(ty))
                        {
                            sends.insert(name.clone(), parts);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut builders = BTreeMap::new();
        for (name, list) in fields {
            let Some((success, error)) = sends.get(&name).cloned() else {
                continue;
            };
            let mut params = Vec::new();
            let mut body = None;
            for (field, ty) in list {
                let inner = ty
                    .strip_prefix("Result<")
                    .and_then(|t| t.strip_suffix(",String>"))
                    .unwrap_or(&ty)
                    .to_string();
                if field == "body" {
                    body = Some(inner.replace("types::builder::", "types::"));
                } else {
                    params.push((field, inner));
                }
            }
            builders.insert(
                name,
                Builder {
                    params,
                    body,
                    success,
                    error,
                },
            );
        }
        Builders(builders)
    }
}

/// Type tokens without spaces or trailing commas (`Result<Option<::std::num::NonZeroU32>,String>`).
fn compact(ty: &syn::Type) -> String {
    let text: String = ty
        .to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    text.replace(",>", ">")
}

/// `Result<ResponseValue<S>,Error<E>>` → (S, E).
fn send_types(ty: &str) -> Option<(String, String)> {
    let inner = ty
        .strip_prefix("Result<ResponseValue<")?
        .strip_suffix(">>")?;
    let (success, error) = inner.split_once(">,Error<")?;
    Some((success.to_string(), error.to_string()))
}

/// Spaces the compact type back into readable Rust.
fn readable(ty: &str) -> String {
    ty.replace(',', ", ")
}

fn dispatch(
    spec: &Spec,
    features: &[Feature<'_>],
    builders: &Builders,
    out: &mut String,
) -> Result<()> {
    let mut roles: Vec<&'static str> = Vec::new();
    for feature in features {
        for op in &feature.operations {
            if !roles.contains(&op.role) {
                roles.push(op.role);
            }
        }
    }
    let mut methods = String::new();
    for role in roles {
        let mut members = Vec::new();
        for feature in features {
            let Some(op) = feature.operation(role) else {
                continue;
            };
            let name = op.id().to_upper_camel_case();
            let builder = builders.0.get(&name).ok_or_else(|| {
                anyhow!(
                    "{}: no generated builder `{name}` for `{}` ({} builders found)",
                    spec.path.display(),
                    op.id(),
                    builders.0.len()
                )
            })?;
            members.push((feature, op.id(), builder));
        }
        let (_, first_id, first) = members[0];
        for (_, id, builder) in &members[1..] {
            if builder.params != first.params || builder.body.is_some() != first.body.is_some() {
                bail!(
                    "{}: `{id}` and `{first_id}` play the role `{role}` with different parameters ({:?} against {:?}); features of one spec must agree",
                    spec.path.display(),
                    builder.params,
                    first.params
                );
            }
            if builder.error != first.error {
                bail!(
                    "{}: `{id}` and `{first_id}` answer errors with different types",
                    spec.path.display()
                );
            }
        }
        let mut successes: Vec<&str> = Vec::new();
        for (_, _, builder) in &members {
            if !successes.contains(&builder.success.as_str()) {
                successes.push(&builder.success);
            }
        }
        let answer = if successes.len() == 1 {
            readable(successes[0])
        } else {
            let name = format!("{}Answer", role.to_upper_camel_case());
            let _ = writeln!(
                out,
                "/// The answer of a `{role}` operation, whose type depends on the feature.\n#[derive(Clone, Debug, PartialEq, ::serde::Serialize)]\n#[serde(untagged)]\n#[non_exhaustive]\npub enum {name} {{"
            );
            for success in &successes {
                let variant = success.rsplit("::").next().unwrap_or(success);
                let _ = writeln!(
                    out,
                    "/// A [`{success}`].\n{variant}({}),",
                    readable(success)
                );
            }
            let _ = writeln!(out, "}}\n");
            name
        };
        let mut args = String::new();
        for (param, ty) in &first.params {
            let _ = write!(args, ", {param}: {}", readable(ty));
        }
        if first.body.is_some() {
            args.push_str(", body: ::serde_json::Value");
        }
        let _ = writeln!(
            methods,
            "/// Sends this feature's `{role}` operation{}. A feature without one fails with\n\
             /// `Error::InvalidRequest` before sending.\n\
             pub async fn {role}(self, client: &Client{args}) -> ::std::result::Result<ResponseValue<{answer}>, Error<{error}>> {{\n\
             match self {{",
            if first.body.is_some() {
                "; `body` must deserialize into the operation's generated body type"
            } else {
                ""
            },
            error = readable(&first.error),
        );
        for (feature, id, builder) in &members {
            let variant = feature.name.to_upper_camel_case();
            let _ = writeln!(
                methods,
                "Feature::{variant} => {{\n#[allow(unused_mut)]\nlet mut request = client.{id}();"
            );
            for (param, ty) in &builder.params {
                if ty.starts_with("Option<") {
                    let _ = writeln!(
                        methods,
                        "if let Some(value) = {param} {{\nrequest = request.{param}(value);\n}}"
                    );
                } else {
                    let _ = writeln!(methods, "request = request.{param}({param});");
                }
            }
            if let Some(body) = &builder.body {
                let _ = writeln!(
                    methods,
                    "let body: {} = ::serde_json::from_value(body).map_err(|e| Error::InvalidRequest(format!(\"{id}: {{e}}\")))?;\nrequest = request.body(body);",
                    readable(body)
                );
            }
            if successes.len() == 1 {
                let _ = writeln!(methods, "request.send().await\n}}");
            } else {
                let variant = builder
                    .success
                    .rsplit("::")
                    .next()
                    .unwrap_or(&builder.success);
                let _ = writeln!(
                    methods,
                    "request.send().await.map(|value| map_value(value, {answer}::{variant}))\n}}"
                );
            }
        }
        if members.len() < features.len() {
            let _ = writeln!(
                methods,
                "#[allow(unreachable_patterns)]\nother => Err(Error::InvalidRequest(format!(\"{{other}} has no `{role}` operation\"))),"
            );
        }
        let _ = writeln!(methods, "}}\n}}\n");
        if first.body.is_some() {
            // Lets a server (the sandbox) check a body against the same generated type.
            let _ = writeln!(
                methods,
                "/// Checks that `body` is a valid request of this feature's `{role}` operation.\n\
                 pub fn check_{role}_body(self, body: &::serde_json::Value) -> ::std::result::Result<(), ::std::string::String> {{\nmatch self {{"
            );
            for (feature, _, builder) in &members {
                if let Some(body) = &builder.body {
                    let _ = writeln!(
                        methods,
                        "Feature::{} => <{} as ::serde::Deserialize>::deserialize(body).map(|_| ()).map_err(|e| e.to_string()),",
                        feature.name.to_upper_camel_case(),
                        readable(body)
                    );
                }
            }
            if members.len() < features.len() {
                let _ = writeln!(
                    methods,
                    "#[allow(unreachable_patterns)]\nother => Err(format!(\"{{other}} has no `{role}` operation\")),"
                );
            }
            let _ = writeln!(methods, "}}\n}}\n");
        }
    }
    let _ = writeln!(
        out,
        "impl Feature {{\n{methods}}}\n\n\
         /// Keeps status and headers while converting the body.\n\
         #[allow(dead_code)]\n\
         fn map_value<T, U>(value: ResponseValue<T>, convert: impl FnOnce(T) -> U) -> ResponseValue<U> {{\n\
         let status = value.status();\nlet headers = value.headers().clone();\n\
         ResponseValue::new(convert(value.into_inner()), status, headers)\n}}"
    );
    Ok(())
}
