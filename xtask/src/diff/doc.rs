//! A spec seen as a tree of nodes that know their JSON pointer, with `$ref`s followed.

use serde_json::{Map, Value};

use crate::spec::pointer_of;

/// One side of a comparison.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    pub json: &'a Value,
}

/// A value and where it sits in its document.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub value: &'a Value,
    pub pointer: String,
}

impl<'a> Node<'a> {
    pub fn new(value: &'a Value, pointer: impl Into<String>) -> Self {
        Node {
            value,
            pointer: pointer.into(),
        }
    }

    /// The child under `key`, if any.
    pub fn child(&self, key: &str) -> Option<Node<'a>> {
        self.value.get(key).map(|value| Node {
            value,
            pointer: format!("{}{}", self.pointer, pointer_of(&[key])),
        })
    }

    /// The child under `key`, or a `null` placeholder at that pointer.
    pub fn child_or_null(&self, key: &str) -> Node<'a> {
        static NULL: Value = Value::Null;
        self.child(key).unwrap_or_else(|| Node {
            value: &NULL,
            pointer: format!("{}{}", self.pointer, pointer_of(&[key])),
        })
    }

    /// Element `index` of an array node.
    pub fn item(&self, index: usize) -> Option<Node<'a>> {
        self.value.get(index).map(|value| Node {
            value,
            pointer: format!("{}/{index}", self.pointer),
        })
    }

    /// The entries of an object node, in document order (empty for anything else).
    pub fn entries(&self) -> Vec<(&'a str, Node<'a>)> {
        self.value
            .as_object()
            .map(Map::iter)
            .into_iter()
            .flatten()
            .map(|(key, value)| {
                (
                    key.as_str(),
                    Node {
                        value,
                        pointer: format!("{}{}", self.pointer, pointer_of(&[key])),
                    },
                )
            })
            .collect()
    }

    /// The elements of an array node (empty for anything else).
    pub fn items(&self) -> Vec<Node<'a>> {
        let count = self.value.as_array().map_or(0, Vec::len);
        (0..count).filter_map(|index| self.item(index)).collect()
    }

    /// A string field of an object node.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.value.get(key).and_then(Value::as_str)
    }
}

/// Where `key` changed between two versions of an object: in the new one, in the old one if it
/// was removed there, or the new object itself if neither has it.
pub fn changed_key(old: &Node<'_>, new: &Node<'_>, key: &str) -> String {
    match (old.child(key), new.child(key)) {
        (_, Some(node)) | (Some(node), None) => node.pointer,
        (None, None) => new.pointer.clone(),
    }
}

/// Where a followed `$ref` ended.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    pub node: Node<'a>,
    /// The component schema the last reference pointed at (`Foo` for `#/components/schemas/Foo`).
    pub schema_name: Option<String>,
}

impl<'a> Doc<'a> {
    pub fn new(json: &'a Value) -> Self {
        Doc { json }
    }

    /// The root node.
    pub fn root(&self) -> Node<'a> {
        Node::new(self.json, "")
    }

    /// The node at an absolute JSON pointer.
    pub fn at(&self, pointer: &str) -> Option<Node<'a>> {
        self.json
            .pointer(pointer)
            .map(|value| Node::new(value, pointer))
    }

    /// Follows a chain of local `$ref`s. An unresolvable reference stays as it is, so that two
    /// sides with the same broken reference compare equal and different ones do not.
    pub fn resolve(&self, node: Node<'a>) -> Resolved<'a> {
        let mut current = node;
        let mut schema_name = None;
        // A reference cycle without a concrete object in it would loop forever.
        for _ in 0..32 {
            let Some(reference) = current.str("$ref") else {
                break;
            };
            let Some(pointer) = reference.strip_prefix('#') else {
                break;
            };
            let Some(target) = self.at(&decode_uri_fragment(pointer)) else {
                break;
            };
            if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                schema_name = Some(name.replace("~1", "/").replace("~0", "~"));
            }
            current = target;
        }
        Resolved {
            node: current,
            schema_name,
        }
    }

    /// [`Doc::resolve`] for a bare value, without pointers.
    pub fn deref(&self, value: &'a Value) -> (&'a Value, Option<String>) {
        let resolved = self.resolve(Node::new(value, ""));
        (resolved.node.value, resolved.schema_name)
    }
}

/// `$ref` fragments may percent-encode characters; the specs only ever need `%7B`/`%7D`.
fn decode_uri_fragment(fragment: &str) -> String {
    fragment
        .replace("%7B", "{")
        .replace("%7D", "}")
        .replace("%25", "%")
}
