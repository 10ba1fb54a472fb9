//! `crossaz schema`: the row schema as Glue columns (what `deploy/template.yaml` must declare)
//! or as JSON, printed from [`crate::row::COLUMNS`].

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::row::{COLUMNS, PARTITION_COLUMN};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum SchemaFormat {
    /// `name<TAB>glue type`, one column a line, partition column last.
    Glue,
    /// A JSON array of {name, type, comment}.
    Json,
}

#[derive(Debug, Args)]
pub(super) struct SchemaArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "glue")]
    format: SchemaFormat,
}

pub(super) fn run(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    match args.format {
        SchemaFormat::Glue => {
            for c in COLUMNS {
                println!("{}\t{}", c.name, c.kind.glue_type());
            }
            println!("{PARTITION_COLUMN}\tstring\tpartition");
        }
        SchemaFormat::Json => {
            let columns: Vec<_> = COLUMNS
                .iter()
                .map(|c| serde_json::json!({"name": c.name, "type": c.kind.glue_type(), "comment": c.doc}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&columns)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
