//! `chronicle lineage TYPE/ID`: an entity's lineage graph from a running server (docs/API.md
//! "Lineage"), as text, JSON, Graphviz DOT or Mermaid.

use crate::remote::{Remote, encode, print_problem, show};
use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per edge, for a person.
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    /// The entity, as TYPE/ID (e.g. customer/c1).
    #[arg(value_name = "TYPE/ID")]
    pub entity: String,
    #[arg(long, value_enum, default_value_t = Direction::Both)]
    pub direction: Direction,
    /// Steps from the entity (1 to 10).
    #[arg(long)]
    pub depth: Option<usize>,
    /// The ledger as it was at this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Most nodes (1 to 5000).
    #[arg(long)]
    pub max_nodes: Option<usize>,
    /// Neighbours of one kind listed per node (1 to 1000); the rest are counted.
    #[arg(long)]
    pub max_siblings: Option<usize>,
}

/// The request path for the arguments.
fn path(args: &LineageArgs) -> Result<String> {
    let Some((ty, id)) = args.entity.split_once('/') else {
        bail!("the entity must be TYPE/ID, e.g. customer/c1");
    };
    let direction = match args.direction {
        Direction::Upstream => "upstream",
        Direction::Downstream => "downstream",
        Direction::Both => "both",
    };
    // Text is drawn here from the JSON graph.
    let format = match args.format {
        Format::Dot => "dot",
        Format::Mermaid => "mermaid",
        Format::Text | Format::Json => "json",
    };
    let mut query = vec![format!("direction={direction}"), format!("format={format}")];
    for (name, value) in [
        ("depth", args.depth),
        ("max_nodes", args.max_nodes),
        ("max_siblings", args.max_siblings),
    ] {
        if let Some(v) = value {
            query.push(format!("{name}={v}"));
        }
    }
    if let Some(t) = &args.as_of {
        query.push(format!("as_of={}", encode(t)));
    }
    Ok(format!(
        "/v1/lineage/{}/{}?{}",
        encode(ty),
        encode(id),
        query.join("&")
    ))
}

pub async fn run(remote: &Remote, args: LineageArgs) -> Result<ExitCode> {
    let mut args = args;
    // `--json` asks for the server's JSON whatever the format says.
    if remote.json {
        args.format = Format::Json;
    }
    let answer = remote.send(Method::GET, &path(&args)?, None).await?;
    match args.format {
        Format::Dot | Format::Mermaid if answer.ok() => {
            print!("{}", answer.body.as_str().unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Format::Dot | Format::Mermaid => {
            print_problem(&answer);
            Ok(ExitCode::from(1))
        }
        Format::Json => {
            println!("{}", serde_json::to_string_pretty(&answer.body)?);
            Ok(if answer.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Format::Text => show(remote, &answer, print_text),
    }
}

fn print_text(graph: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let nodes = graph["nodes"].as_array().map_or(&[][..], Vec::as_slice);
    let edges = graph["edges"].as_array().map_or(&[][..], Vec::as_slice);
    println!(
        "lineage of {}: {} nodes, {} edges",
        text(&graph["root"]),
        nodes.len(),
        edges.len()
    );
    for e in edges {
        let entry = match (e["entry_id"].as_str(), e["at"].as_str()) {
            (Some(id), Some(at)) => format!("  (entry {id} at {at})"),
            _ => String::new(),
        };
        println!(
            "{} -{}-> {}{entry}",
            text(&e["from"]),
            text(&e["kind"]),
            text(&e["to"])
        );
    }
    for n in nodes {
        if let Some(cut) = n["cut"].as_str() {
            let count = n["count"]
                .as_u64()
                .map(|c| format!(", {c} not listed"))
                .unwrap_or_default();
            println!("cut at {} ({cut}{count})", text(&n["key"]));
        }
    }
}
