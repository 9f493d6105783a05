//! Read-only: which statements run, decided on the parsed statement and on the logical
//! plan, never on the query text.
//!
//! 1. [`parse`]: exactly one statement, and only a query (`SELECT`, `WITH`, `VALUES`),
//!    `SHOW TABLES`, `SHOW COLUMNS`, `DESCRIBE` or `EXPLAIN` of one of those. DDL, DML,
//!    `COPY`, `CREATE EXTERNAL TABLE`, `SET`/`RESET` and everything else are refused
//!    with what they are. Table functions other than `generate_series`/`range`
//!    (`read_parquet`, `read_csv`, …) and relations named like a file or URL are refused
//!    in the AST.
//! 2. [`check_plan`]: DataFusion's own `SQLOptions` (no DDL, DML or statements) on the
//!    plan, and every table scan in it, subqueries included, must read a table this
//!    session registered (by identity), `information_schema` or an allowed table
//!    function, so nothing can read a file the catalog does not serve.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{ObjectName, Statement, TableFactor, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::error::SqlError;

/// Table functions that generate rows and read nothing.
const ALLOWED_TABLE_FUNCTIONS: [&str; 2] = ["generate_series", "range"];
/// Deepest nesting the parser accepts (DataFusion's default); deeper SQL is refused
/// instead of risking the stack.
const RECURSION_LIMIT: usize = 50;

const ONLY_QUERIES: &str =
    "only read-only queries run here (SELECT, WITH, SHOW TABLES, DESCRIBE, EXPLAIN)";

fn refused(what: &str) -> SqlError {
    SqlError::Refused(format!("{what} is not allowed: {ONLY_QUERIES}"))
}

/// Parses `sql` into its single statement and checks that it only reads.
///
/// # Errors
/// [`SqlError::Invalid`] for SQL that does not parse or holds several statements,
/// [`SqlError::Refused`] for anything but a read-only query.
pub fn parse(sql: &str) -> Result<DfStatement, SqlError> {
    let dialect = GenericDialect {};
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| SqlError::Invalid(e.strip_backtrace()))?;
    if statements.len() != 1 {
        return Err(SqlError::Invalid(format!(
            "expected exactly one statement, got {}",
            statements.len()
        )));
    }
    let Some(statement) = statements.pop_front() else {
        return Err(SqlError::Invalid("empty query".into()));
    };
    check_statement(&statement)?;
    Ok(statement)
}

fn check_statement(statement: &DfStatement) -> Result<(), SqlError> {
    match statement {
        DfStatement::Statement(inner) => check_sql_statement(inner),
        DfStatement::Explain(explain) => check_statement(&explain.statement),
        DfStatement::CreateExternalTable(_) => Err(refused("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => Err(refused("COPY")),
        DfStatement::Reset(_) => Err(refused("RESET")),
    }
}

fn check_sql_statement(statement: &Statement) -> Result<(), SqlError> {
    match statement {
        Statement::Query(_) => check_relations(statement),
        Statement::ShowTables { .. } | Statement::ShowColumns { .. } => Ok(()),
        Statement::ExplainTable { .. } => Ok(()),
        Statement::Explain { statement, .. } => check_sql_statement(statement),
        Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_)
        | Statement::Truncate(_) => Err(refused("changing data (DML)")),
        Statement::Copy { .. } | Statement::CopyIntoSnowflake { .. } | Statement::Unload { .. } => {
            Err(refused("COPY"))
        }
        Statement::Set(_) | Statement::Reset(_) => Err(refused("SET")),
        Statement::CreateTable(_)
        | Statement::CreateView(_)
        | Statement::CreateIndex(_)
        | Statement::CreateSchema { .. }
        | Statement::CreateDatabase { .. }
        | Statement::CreateFunction(_)
        | Statement::Drop { .. }
        | Statement::DropFunction(_)
        | Statement::AlterTable(_)
        | Statement::AlterView { .. } => Err(refused("changing the schema (DDL)")),
        _ => Err(SqlError::Refused(format!(
            "this statement is not allowed: {ONLY_QUERIES}"
        ))),
    }
}

/// Refuses table functions outside the allow-list and relations named like files or
/// URLs, wherever they appear (subqueries, CTEs, joins).
fn check_relations(statement: &Statement) -> Result<(), SqlError> {
    struct Relations;

    impl Visitor for Relations {
        type Break = SqlError;

        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<SqlError> {
            let verdict = match factor {
                TableFactor::Table {
                    name,
                    args: Some(_),
                    ..
                }
                | TableFactor::Function { name, .. } => check_table_function(name),
                TableFactor::Table { name, .. } => check_table_name(name),
                TableFactor::TableFunction { .. } => Err(SqlError::Refused(
                    "TABLE(…) functions are not allowed: query the Stadtpuls tables (SHOW TABLES)"
                        .into(),
                )),
                _ => Ok(()),
            };
            match verdict {
                Ok(()) => ControlFlow::Continue(()),
                Err(error) => ControlFlow::Break(error),
            }
        }
    }

    match statement.visit(&mut Relations) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.to_ascii_lowercase())
        .unwrap_or_default()
}

fn check_table_function(name: &ObjectName) -> Result<(), SqlError> {
    let function = last_part(name);
    if name.0.len() == 1 && ALLOWED_TABLE_FUNCTIONS.contains(&function.as_str()) {
        return Ok(());
    }
    Err(SqlError::Refused(format!(
        "table function `{name}` is not allowed: SQL here reads only the Stadtpuls tables (SHOW TABLES); allowed table functions: {}",
        ALLOWED_TABLE_FUNCTIONS.join(", ")
    )))
}

fn check_table_name(name: &ObjectName) -> Result<(), SqlError> {
    let looks_like_a_path = name.0.iter().filter_map(|p| p.as_ident()).any(|ident| {
        let value = &ident.value;
        value.contains('/') || value.contains('\\') || value.contains("://")
    });
    if looks_like_a_path {
        return Err(SqlError::Refused(format!(
            "reading files or URLs (`{name}`) is not allowed: query the Stadtpuls tables (SHOW TABLES)"
        )));
    }
    Ok(())
}

/// Identities of the tables a session registered (the `Arc`s' data pointers).
#[derive(Debug, Default)]
pub struct Registered(HashSet<usize>);

impl Registered {
    /// Remembers `table` as one this session serves.
    pub fn insert(&mut self, table: &Arc<dyn TableProvider>) {
        self.0.insert(identity(table));
    }

    fn contains(&self, table: &Arc<dyn TableProvider>) -> bool {
        self.0.contains(&identity(table))
    }
}

fn identity(table: &Arc<dyn TableProvider>) -> usize {
    Arc::as_ptr(table).cast::<()>() as usize
}

/// Checks a planned statement: no DDL/DML/statements, and every scan reads a registered
/// table, `information_schema` or an allowed table function.
///
/// # Errors
/// [`SqlError::Refused`] naming what was found.
pub fn check_plan(plan: &LogicalPlan, registered: &Registered) -> Result<(), SqlError> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| SqlError::Refused(format!("{}: {ONLY_QUERIES}", e.strip_backtrace())))?;
    let mut verdict = Ok(());
    let walked = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = &scan.table_name;
            let allowed = if name.schema() == Some("information_schema") {
                true
            } else if let Some(function) = name.table().strip_suffix("()") {
                ALLOWED_TABLE_FUNCTIONS.contains(&function)
            } else {
                source_as_provider(&scan.source).is_ok_and(|provider| registered.contains(&provider))
            };
            if !allowed {
                verdict = Err(SqlError::Refused(format!(
                    "`{name}` is not a Stadtpuls table: SQL here reads only the tables SHOW TABLES lists"
                )));
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    walked.map_err(|e| SqlError::Internal(e.strip_backtrace()))?;
    verdict
}
