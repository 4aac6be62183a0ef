//! Renderings of a lineage graph besides JSON: Graphviz DOT, Mermaid, and a standalone SVG
//! (a simple layered layout in pure Rust: one column per depth) that a dashboard page can
//! embed. Labels come from entity types and ids, which clients choose, so every format
//! escapes them by its own rules.

use crate::graph::{Graph, Node};
use std::collections::HashMap;
use std::fmt::Write;

/// A DOT double-quoted string: `\` and `"` escaped; a newline as DOT's `\n`.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The dashboard's page of an entity: `/entities/{type}/{id}`, the id percent-encoded.
pub fn entity_href(node: &Node) -> Option<String> {
    node.is_entity()
        .then(|| format!("/entities/{}/{}", node.node_type, percent_encode(&node.id)))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Graphviz DOT: one statement per node (its key as the id, a label, a link to its page)
/// and per edge (labelled with its kind).
pub fn dot(graph: &Graph) -> String {
    let mut out = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box];\n");
    for n in &graph.nodes {
        let mut attrs = vec![format!("label={}", dot_quote(&n.label))];
        if let Some(href) = entity_href(n) {
            attrs.push(format!("URL={}", dot_quote(&href)));
        }
        if n.key == graph.root {
            attrs.push("style=bold".to_owned());
        }
        if n.cut.is_some() {
            attrs.push("peripheries=2".to_owned());
        }
        if !n.is_entity() {
            attrs.push("shape=ellipse".to_owned());
        }
        let _ = writeln!(out, "  {} [{}];", dot_quote(&n.key), attrs.join(", "));
    }
    for e in &graph.edges {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            dot_quote(&e.from),
            dot_quote(&e.to),
            dot_quote(e.kind.as_str())
        );
    }
    out.push_str("}\n");
    out
}

/// Mermaid label text: `#` starts Mermaid's entity codes, so it and the characters that end
/// or open a label are written as codes.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid flowchart. Node ids are `n<index>` (keys may hold any character); labels are
/// quoted and escaped.
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let ids: HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.key.as_str(), i))
        .collect();
    for (i, n) in graph.nodes.iter().enumerate() {
        let (open, close) = if n.is_entity() {
            ("[", "]")
        } else {
            ("([", "])")
        };
        let _ = writeln!(out, "  n{i}{open}\"{}\"{close}", mermaid_text(&n.label));
    }
    for e in &graph.edges {
        if let (Some(a), Some(b)) = (ids.get(e.from.as_str()), ids.get(e.to.as_str())) {
            let _ = writeln!(out, "  n{a} -->|{}| n{b}", e.kind.as_str());
        }
    }
    out
}

fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

const BOX_W: usize = 200;
const BOX_H: usize = 36;
const GAP_X: usize = 80;
const GAP_Y: usize = 20;

/// A standalone SVG: columns by depth, nodes in the order they were found, edges as lines
/// with arrowheads, entity nodes linking to their dashboard pages.
pub fn svg(graph: &Graph) -> String {
    let mut rows: HashMap<usize, usize> = HashMap::new();
    let mut at: HashMap<&str, (usize, usize)> = HashMap::new();
    for n in &graph.nodes {
        let row = rows.entry(n.depth).or_default();
        at.insert(
            &n.key,
            (n.depth * (BOX_W + GAP_X) + 10, *row * (BOX_H + GAP_Y) + 10),
        );
        *row += 1;
    }
    let width = at.values().map(|p| p.0 + BOX_W + 10).max().unwrap_or(20);
    let height = at.values().map(|p| p.1 + BOX_H + 10).max().unwrap_or(20);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>\n"
    );
    for e in &graph.edges {
        let (Some(a), Some(b)) = (at.get(e.from.as_str()), at.get(e.to.as_str())) else {
            continue;
        };
        let (x1, y1) = (a.0 + BOX_W, a.1 + BOX_H / 2);
        let (x2, y2) = (b.0, b.1 + BOX_H / 2);
        let _ = writeln!(
            out,
            "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#888\" marker-end=\"url(#arrow)\"><title>{}</title></line>",
            e.kind.as_str()
        );
    }
    for n in &graph.nodes {
        let (x, y) = at[n.key.as_str()];
        let stroke = if n.key == graph.root { 3 } else { 1 };
        let dash = if n.cut.is_some() {
            " stroke-dasharray=\"4 2\""
        } else {
            ""
        };
        let shape = format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" fill=\"#fff\" stroke=\"#333\" stroke-width=\"{stroke}\"{dash}/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            x + 8,
            y + BOX_H / 2 + 4,
            xml_text(&n.label)
        );
        match entity_href(n) {
            Some(href) => {
                let _ = writeln!(out, "<a href=\"{}\">{shape}</a>", xml_text(&href));
            }
            None => {
                let _ = writeln!(out, "{shape}");
            }
        }
    }
    out.push_str("</svg>\n");
    out
}
