//! History tables whose scans claim no row order.
//!
//! Compaction writes each file sorted by (entity, `window_start`) and records that in the
//! footer (`sorting_columns`), for any engine that reads it. DataFusion 55 derives a
//! table's output ordering from those footers when every file has one; its aggregates then
//! run in "partially sorted" mode and the repartition below them merges streams to keep
//! the order. On the SQL benchmark's fully compacted day that made the top-10 congested
//! query twice as slow (`dist`, 2026-12-07: 949–1,026 ms with the order, 485–491 ms
//! without; docs/performance.md, "SQL benchmark"), and no analyst query measured gained
//! from it. A history that is still being written mixes compacted files with the
//! pipeline's (ordered by window start), so the derived order came and went with
//! compaction; without it, plans no longer depend on how far compaction has got.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Constraints, Result, Statistics};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// A table (a `ListingTable` of history files) whose file scans report no ordering.
#[derive(Debug)]
pub struct Unordered {
    inner: Arc<dyn TableProvider>,
}

impl Unordered {
    pub fn wrap(inner: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
        Arc::new(Self { inner })
    }
}

/// `plan` with the ordering of its file scan dropped, when it is one; other plans (an
/// empty table) unchanged.
fn without_file_order(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let Some(exec) = plan.downcast_ref::<DataSourceExec>() else {
        return plan;
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return plan;
    };
    if config.output_ordering.is_empty() {
        return plan;
    }
    let mut config = config.clone();
    config.output_ordering.clear();
    // Set only because of the ordering (the listing table asks for no ordered limit).
    config.preserve_order = false;
    DataSourceExec::from_data_source(config)
}

#[async_trait]
impl TableProvider for Unordered {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        Ok(without_file_order(plan))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}
