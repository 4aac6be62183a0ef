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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Edge, EdgeKind};
    use proptest::prelude::*;

    /// DOT's tokens, as far as these graphs use them.
    #[derive(Debug, PartialEq)]
    enum Token {
        Quoted(String),
        Word(String),
        Punct(&'static str),
    }

    fn tokens(text: &str) -> Result<Vec<Token>, String> {
        let mut out = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                c if c.is_whitespace() => {}
                '"' => {
                    let mut s = String::new();
                    loop {
                        match chars.next().ok_or("unterminated string")? {
                            '"' => break,
                            '\\' => match chars.next().ok_or("dangling escape")? {
                                '"' => s.push('"'),
                                '\\' => s.push('\\'),
                                'n' => s.push('\n'),
                                other => return Err(format!("unknown escape \\{other}")),
                            },
                            c => s.push(c),
                        }
                    }
                    out.push(Token::Quoted(s));
                }
                '-' if chars.peek() == Some(&'>') => {
                    chars.next();
                    out.push(Token::Punct("->"));
                }
                '{' => out.push(Token::Punct("{")),
                '}' => out.push(Token::Punct("}")),
                '[' => out.push(Token::Punct("[")),
                ']' => out.push(Token::Punct("]")),
                '=' => out.push(Token::Punct("=")),
                ',' => out.push(Token::Punct(",")),
                ';' => out.push(Token::Punct(";")),
                c if c.is_ascii_alphanumeric() || c == '_' => {
                    let mut w = String::from(c);
                    while let Some(&n) = chars.peek() {
                        if !(n.is_ascii_alphanumeric() || n == '_') {
                            break;
                        }
                        w.push(n);
                        chars.next();
                    }
                    out.push(Token::Word(w));
                }
                other => return Err(format!("stray character {other:?}")),
            }
        }
        Ok(out)
    }

    type Parsed = (Vec<(String, String)>, Vec<(String, String, String)>);

    /// A structural parse of DOT: `digraph ID { stmt; ... }` where a statement is an
    /// attribute (`a=b`), a default (`node [...]`), a node (`"id" [...]`) or an edge
    /// (`"a" -> "b" [...]`). Returns the nodes (id, label) and edges (from, to, label).
    fn parse_dot(text: &str) -> Result<Parsed, String> {
        let toks = tokens(text)?;
        match &toks[..] {
            [Token::Word(d), Token::Word(_), Token::Punct("{"), ..] if d == "digraph" => {}
            _ => return Err("no `digraph ID {`".into()),
        }
        // An optional `[name=value, ...]` at `i`; returns the label.
        let list = |i: &mut usize| -> Result<String, String> {
            let mut label = String::new();
            if toks.get(*i) != Some(&Token::Punct("[")) {
                return Ok(label);
            }
            *i += 1;
            loop {
                let name = match toks.get(*i) {
                    Some(Token::Word(w)) => w.clone(),
                    Some(Token::Punct("]")) => {
                        *i += 1;
                        return Ok(label);
                    }
                    other => return Err(format!("bad attribute name {other:?}")),
                };
                if toks.get(*i + 1) != Some(&Token::Punct("=")) {
                    return Err("attribute without =".into());
                }
                let value = match toks.get(*i + 2) {
                    Some(Token::Word(w)) | Some(Token::Quoted(w)) => w.clone(),
                    other => return Err(format!("bad attribute value {other:?}")),
                };
                if name == "label" {
                    label = value;
                }
                *i += 3;
                if toks.get(*i) == Some(&Token::Punct(",")) {
                    *i += 1;
                }
            }
        };
        let (mut nodes, mut edges) = (Vec::new(), Vec::new());
        let mut i = 3;
        loop {
            match toks.get(i) {
                Some(Token::Punct("}")) if i + 1 == toks.len() => return Ok((nodes, edges)),
                Some(Token::Word(_)) if toks.get(i + 1) == Some(&Token::Punct("=")) => i += 3,
                Some(Token::Word(w)) if w == "node" || w == "edge" => {
                    i += 1;
                    list(&mut i)?;
                }
                Some(Token::Quoted(a)) if toks.get(i + 1) == Some(&Token::Punct("->")) => {
                    let Some(Token::Quoted(b)) = toks.get(i + 2) else {
                        return Err("edge without a target".into());
                    };
                    i += 3;
                    edges.push((a.clone(), b.clone(), list(&mut i)?));
                }
                Some(Token::Quoted(a)) => {
                    i += 1;
                    nodes.push((a.clone(), list(&mut i)?));
                }
                other => return Err(format!("unexpected {other:?}")),
            }
            if toks.get(i) != Some(&Token::Punct(";")) {
                return Err(format!("statement not ended by ; at token {i}"));
            }
            i += 1;
        }
    }

    fn node(key: &str, label: &str, depth: usize) -> Node {
        let (t, id) = key.split_once('/').unwrap();
        Node {
            key: key.to_owned(),
            node_type: t.to_owned(),
            id: id.to_owned(),
            label: label.to_owned(),
            depth,
            count: None,
            cut: None,
        }
    }

    fn graph(labels: &[String]) -> Graph {
        let nodes: Vec<Node> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| node(&format!("t{i}/{l}"), l, i))
            .collect();
        let edges = nodes
            .windows(2)
            .map(|w| Edge {
                from: w[1].key.clone(),
                to: w[0].key.clone(),
                kind: EdgeKind::References,
                entry_id: None,
                at: None,
            })
            .collect();
        Graph {
            root: nodes.first().map(|n| n.key.clone()).unwrap_or_default(),
            nodes,
            edges,
            truncated: false,
        }
    }

    proptest! {
        /// Whatever the ids hold (quotes, backslashes, any printable character), the DOT
        /// text parses, and gives back every node's key and label and every edge.
        #[test]
        fn dot_parses_and_gives_back_every_key_label_and_edge(
            labels in proptest::collection::vec("[\"\\\\#<>{}\\[\\];= a-z\\PC]{0,12}", 1..6)
        ) {
            let g = graph(&labels);
            let (nodes, edges) = parse_dot(&dot(&g)).map_err(TestCaseError::fail)?;
            let expected: Vec<(String, String)> =
                g.nodes.iter().map(|n| (n.key.clone(), n.label.clone())).collect();
            prop_assert_eq!(nodes, expected);
            let expected: Vec<(String, String, String)> = g
                .edges
                .iter()
                .map(|e| (e.from.clone(), e.to.clone(), "references".to_owned()))
                .collect();
            prop_assert_eq!(edges, expected);
        }

        /// A Mermaid label never holds the characters that would end it early.
        #[test]
        fn mermaid_labels_hold_no_raw_quote_or_bracket(
            labels in proptest::collection::vec("[\"\\\\#<> a-z\\PC]{0,12}", 1..6)
        ) {
            let g = graph(&labels);
            let text = mermaid(&g);
            for (i, line) in text.lines().skip(1).take(g.nodes.len()).enumerate() {
                let inner = line
                    .strip_prefix(&format!("  n{i}[\""))
                    .and_then(|l| l.strip_suffix("\"]"))
                    .ok_or_else(|| TestCaseError::fail(format!("not a node line: {line}")))?;
                prop_assert!(!inner.contains('"') && !inner.contains('<') && !inner.contains('>'), "{}", line);
            }
        }
    }

    #[test]
    fn svg_escapes_labels_and_links_entities_to_their_pages() {
        let g = graph(&["a<b>&\"c".to_owned()]);
        let text = svg(&g);
        assert!(text.contains("a&lt;b&gt;&amp;&quot;c"), "{text}");
        assert!(
            text.contains("href=\"/entities/t0/a%3Cb%3E%26%22c\""),
            "{text}"
        );
    }
}
