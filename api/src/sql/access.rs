//! Per-city access below SQL: the table wrapper that enforces what the policy
//! (`crate::access`, the one implementation of every door) lets a principal see.
//!
//! Every table the SQL session sees is wrapped in [`CityScoped`]. Its `scan` asks the
//! wrapped table for the rows with an extra `city IN (…)` predicate (for the history's
//! listing tables that prunes whole `city=` directories) *and* puts a `FilterExec` with
//! the same predicate on top of whatever the table returns, so the rows of other cities
//! never leave the scan, whatever the query says: the planner cannot drop a filter it
//! never saw, and no query text is rewritten. Table statistics are not passed through
//! (a `COUNT(*)` answered from file metadata would count every city).

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::{
    Expr, LogicalPlan, TableProviderFilterPushDown, TableType, col, lit,
};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

use super::schema::CITY;
pub use crate::access::{Access, Principal, Scope, hash_key, key_from_authorization};

/// A table whose scans only return rows of the allowed cities (see the module docs).
#[derive(Debug)]
pub struct CityScoped {
    inner: Arc<dyn TableProvider>,
    /// Allowed city ids, sorted; never empty-as-all: an empty list allows nothing.
    cities: Arc<[String]>,
    city_index: usize,
}

impl CityScoped {
    /// Wraps `inner` for `access`; `All` needs no wrapper and returns `inner` itself.
    ///
    /// # Errors
    /// When `inner` has no `city` column (a table that cannot be scoped must not be
    /// served to a scoped principal).
    pub fn wrap(
        inner: Arc<dyn TableProvider>,
        access: &Access,
    ) -> std::result::Result<Arc<dyn TableProvider>, crate::error::SqlError> {
        let Access::Cities(cities) = access else {
            return Ok(inner);
        };
        let city_index = inner.schema().index_of(CITY).map_err(|_| {
            crate::error::SqlError::Internal(
                "table without a `city` column cannot be scoped".into(),
            )
        })?;
        Ok(Arc::new(Self {
            inner,
            cities: cities.clone(),
            city_index,
        }))
    }

    /// `city IN (…)`, or `false` for no city.
    fn predicate(&self) -> Expr {
        if self.cities.is_empty() {
            return lit(false);
        }
        col(CITY).in_list(self.cities.iter().map(|c| lit(c.as_str())).collect(), false)
    }
}

#[async_trait]
impl TableProvider for CityScoped {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        // A wrapped view would be inlined and bypass `scan`; only tables are wrapped.
        None
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The filter needs `city`: scan it too, and project it away again afterwards.
        let (inner_projection, added_city) = match projection {
            Some(columns) if !columns.contains(&self.city_index) => {
                let mut with_city = columns.clone();
                with_city.push(self.city_index);
                (Some(with_city), true)
            }
            other => (other.cloned(), false),
        };
        let predicate = self.predicate();
        let mut inner_filters = filters.to_vec();
        inner_filters.push(predicate.clone());
        // No limit below the filter: it would count rows the filter then drops.
        let scan = self
            .inner
            .scan(state, inner_projection.as_ref(), &inner_filters, None)
            .await?;
        let scan_schema = scan.schema();
        let physical =
            state.create_physical_expr(predicate, &DFSchema::try_from(scan_schema.clone())?)?;
        let filtered: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(physical, scan)?);
        if !added_city {
            return Ok(filtered);
        }
        let kept = scan_schema.fields().len() - 1;
        let columns: Vec<ProjectionExpr> = scan_schema
            .fields()
            .iter()
            .take(kept)
            .enumerate()
            .map(|(i, field)| ProjectionExpr {
                expr: Arc::new(Column::new(field.name(), i)),
                alias: field.name().clone(),
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(columns, filtered)?))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // The wrapped table applies what it claims; ours is applied on top regardless.
        self.inner.supports_filters_pushdown(filters)
    }
}
