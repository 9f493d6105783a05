//! `GROUP BY` the partition columns without looking up every row's key.
//!
//! `city` and `date` are Hive partition columns: one value per file, so every batch a
//! history scan yields holds one key for all its rows. DataFusion's partial aggregate
//! still hashes and compares each row's key (for the nine-city day of the SQL benchmark,
//! ~500 ms of CPU for 25.9 M `city` strings, most of the query). [`PartitionKeyAggregate`]
//! swaps such partial aggregates for [`PartitionKeyAggregateExec`], which looks a batch's
//! key up once when every row has the same one (one byte comparison per batch), else
//! finds the runs of equal keys (one vectorised comparison of neighbours) and looks each
//! run's key up once, and hands the accumulators the whole batch. A batch whose keys
//! change often (the column is not a partition column after all, or its rows alternate)
//! is looked up row by row as before, by the same group table. The output is the partial aggregate's,
//! so the final aggregate above it is unchanged.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, GenericStringArray, OffsetSizeTrait,
    PrimitiveArray, RecordBatch,
};
use datafusion::arrow::compute::kernels::partition::partition;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int32Type, Int64Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::GroupsAccumulatorAdapter;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_common::utils::evaluate_expressions_to_arrays;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, aggregate_expressions};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PhysicalExpr, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};

use super::schema::{CITY, DATE};

/// A batch is looked up run by run while it has at most one run per this many rows.
const ROWS_PER_RUN_MIN: usize = 16;

/// The physical optimizer rule: a partial aggregate grouped only by `city` and/or `date`
/// becomes a [`PartitionKeyAggregateExec`].
#[derive(Debug, Default)]
pub struct PartitionKeyAggregate;

impl PhysicalOptimizerRule for PartitionKeyAggregate {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(aggregate) = node.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(node));
            };
            if !applies(aggregate) {
                return Ok(Transformed::no(node));
            }
            let exec = PartitionKeyAggregateExec::new(aggregate.clone());
            Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "stadtpuls_partition_key_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A partial aggregate of plain aggregates (no `DISTINCT`, no `ORDER BY` inside, no
/// limit) over an unordered input, grouped by nothing but partition columns.
fn applies(aggregate: &AggregateExec) -> bool {
    let group_by = aggregate.group_expr();
    *aggregate.mode() == AggregateMode::Partial
        && group_by.is_single()
        && !group_by.is_empty()
        && group_by.expr().iter().all(|(expr, _)| {
            expr.downcast_ref::<Column>()
                .is_some_and(|column| [CITY, DATE].contains(&column.name()))
        })
        && aggregate.limit_options().is_none()
        && aggregate.dynamic_expressions_produced().is_empty()
        && *aggregate.input_order_mode() == InputOrderMode::Linear
        && aggregate
            .aggr_expr()
            .iter()
            .all(|expr| !expr.is_distinct() && expr.order_bys().is_empty())
}

/// A partial aggregate that looks up a key once per run of equal keys; see the module.
#[derive(Debug)]
pub struct PartitionKeyAggregateExec {
    /// The partial aggregate it stands for: its groups, aggregates, input and output.
    aggregate: AggregateExec,
    metrics: ExecutionPlanMetricsSet,
}

impl PartitionKeyAggregateExec {
    pub fn new(aggregate: AggregateExec) -> Self {
        Self {
            aggregate,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for PartitionKeyAggregateExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self
            .aggregate
            .group_expr()
            .expr()
            .iter()
            .map(|(_, name)| name.as_str())
            .collect();
        let aggregates: Vec<&str> = self
            .aggregate
            .aggr_expr()
            .iter()
            .map(|expr| expr.name())
            .collect();
        write!(
            f,
            "PartitionKeyAggregateExec: mode=Partial, gby=[{}], aggr=[{}]",
            keys.join(", "),
            aggregates.join(", ")
        )
    }
}

impl ExecutionPlan for PartitionKeyAggregateExec {
    fn name(&self) -> &'static str {
        "PartitionKeyAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.aggregate.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.aggregate.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.aggregate.apply_expressions(f)
    }

    #[allow(deprecated)] // DataFusion 55 requires it beside `replace_children`.
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rebuilt = Arc::new(self.aggregate.clone()).with_new_children(children)?;
        let aggregate = rebuilt
            .downcast_ref::<AggregateExec>()
            .ok_or_else(|| DataFusionError::Internal("not an aggregate".into()))?;
        Ok(Arc::new(Self::new(aggregate.clone())))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self
            .aggregate
            .input()
            .execute(partition, Arc::clone(&context))?;
        let mut table = RunTable::new(&self.aggregate)?;
        let schema = self.aggregate.schema();
        let batch_size = context.session_config().batch_size();
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let reservation = MemoryConsumer::new(format!("PartitionKeyAggregateExec[{partition}]"))
            .register(context.memory_pool());
        let output_schema = Arc::clone(&schema);
        let batches = async move {
            let mut input = input;
            while let Some(batch) = input.next().await {
                let batch = batch?;
                let timer = metrics.elapsed_compute().timer();
                table.add(&batch)?;
                reservation.try_resize(table.size())?;
                timer.done();
            }
            let timer = metrics.elapsed_compute().timer();
            let output = table.emit(&output_schema, batch_size)?;
            timer.done();
            let rows = output.iter().map(RecordBatch::num_rows).sum();
            metrics.record_output(rows);
            metrics.done();
            drop(reservation);
            Ok::<_, DataFusionError>(futures::stream::iter(output.into_iter().map(Ok)))
        };
        let stream = futures::stream::once(batches).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One aggregate's accumulator with the expressions that feed it.
struct Accumulator {
    accumulator: Box<dyn GroupsAccumulator>,
    arguments: Vec<Arc<dyn PhysicalExpr>>,
    filter: Option<Arc<dyn PhysicalExpr>>,
}

/// The groups seen so far and their accumulators.
struct RunTable {
    group_by: Vec<Arc<dyn PhysicalExpr>>,
    groups: Box<dyn GroupValues>,
    accumulators: Vec<Accumulator>,
    /// The group of each row of the current batch (its first rows; more after a batch
    /// of one group).
    indices: Vec<usize>,
    /// The group every entry of `indices` is, when the last batch had one group.
    uniform: Option<usize>,
    /// The group of one key looked up ([`Self::group_of`]).
    found: Vec<usize>,
}

impl RunTable {
    fn new(aggregate: &AggregateExec) -> Result<Self> {
        let input_schema = aggregate.input().schema();
        let group_schema = aggregate.group_expr().group_schema(&input_schema)?;
        let groups = new_group_values(group_schema, &GroupOrdering::None)?;
        let arguments = aggregate_expressions(
            aggregate.aggr_expr(),
            aggregate.mode(),
            aggregate.group_expr().num_group_exprs(),
        )?;
        let accumulators = aggregate
            .aggr_expr()
            .iter()
            .zip(arguments)
            .zip(aggregate.filter_expr())
            .map(|((expr, arguments), filter)| {
                Ok(Accumulator {
                    accumulator: groups_accumulator(expr)?,
                    arguments,
                    filter: filter.clone(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            group_by: aggregate
                .group_expr()
                .expr()
                .iter()
                .map(|(expr, _)| Arc::clone(expr))
                .collect(),
            groups,
            accumulators,
            indices: Vec::new(),
            uniform: None,
            found: Vec::new(),
        })
    }

    fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let keys = evaluate_expressions_to_arrays(&self.group_by, batch)?;
        if keys.iter().all(|key| one_value(key.as_ref())) {
            // The usual batch: one file's rows. The indices of the last such batch are
            // kept, so a batch of the same group only reuses them.
            let group = self.group_of(&keys, 0)?;
            if self.uniform != Some(group) {
                self.indices.clear();
                self.uniform = Some(group);
            }
            if self.indices.len() < rows {
                self.indices.resize(rows, group);
            }
        } else {
            self.uniform = None;
            let runs = partition(&keys)?;
            if runs.len() * ROWS_PER_RUN_MIN <= rows {
                self.indices.clear();
                for run in runs.ranges() {
                    let group = self.group_of(&keys, run.start)?;
                    self.indices.resize(self.indices.len() + run.len(), group);
                }
            } else {
                self.indices.clear();
                self.groups.intern(&keys, &mut self.indices)?;
            }
        }
        let indices = &self.indices[..rows];
        let groups = self.groups.len();
        for accumulator in &mut self.accumulators {
            let arguments = evaluate_expressions_to_arrays(&accumulator.arguments, batch)?;
            let filter = accumulator
                .filter
                .as_ref()
                .map(|expr| expr.evaluate(batch)?.into_array(rows))
                .transpose()?;
            accumulator.accumulator.update_batch(
                &arguments,
                indices,
                filter.as_ref().map(|f| f.as_boolean()),
                groups,
            )?;
        }
        Ok(())
    }

    /// The group of the keys in `row`, added if new.
    fn group_of(&mut self, keys: &[ArrayRef], row: usize) -> Result<usize> {
        let key: Vec<ArrayRef> = keys.iter().map(|column| column.slice(row, 1)).collect();
        self.found.clear();
        self.groups.intern(&key, &mut self.found)?;
        self.found
            .first()
            .copied()
            .ok_or_else(|| DataFusionError::Internal("a key was looked up without a group".into()))
    }

    /// Bytes held: the group keys and every accumulator's state.
    fn size(&self) -> usize {
        self.groups.size()
            + self
                .accumulators
                .iter()
                .map(|a| a.accumulator.size())
                .sum::<usize>()
            + self.indices.capacity() * size_of::<usize>()
    }

    /// Every group's key and partial state, in batches of at most `batch_size` rows.
    fn emit(&mut self, schema: &SchemaRef, batch_size: usize) -> Result<Vec<RecordBatch>> {
        if self.groups.is_empty() {
            return Ok(Vec::new());
        }
        let mut columns = self.groups.emit(EmitTo::All)?;
        for accumulator in &mut self.accumulators {
            columns.extend(accumulator.accumulator.state(EmitTo::All)?);
        }
        let all = RecordBatch::try_new(Arc::clone(schema), columns)?;
        let rows = all.num_rows();
        Ok((0..rows)
            .step_by(batch_size.max(1))
            .map(|offset| all.slice(offset, batch_size.min(rows - offset)))
            .collect())
    }
}

/// Whether every row of `key` holds the same value, no nulls among them: a cheaper
/// question than where the runs are. For strings, all of one length and the bytes
/// periodic with that length (one comparison of the bytes with themselves shifted by
/// it); other types compare each row with the first.
fn one_value(key: &dyn Array) -> bool {
    if key.null_count() > 0 {
        return false;
    }
    match key.data_type() {
        DataType::Utf8 => one_string(key.as_string::<i32>()),
        DataType::LargeUtf8 => one_string(key.as_string::<i64>()),
        DataType::Date32 => one_primitive(key.as_primitive::<Date32Type>()),
        DataType::Int32 => one_primitive(key.as_primitive::<Int32Type>()),
        DataType::Int64 => one_primitive(key.as_primitive::<Int64Type>()),
        _ => false,
    }
}

fn one_string<O: OffsetSizeTrait>(strings: &GenericStringArray<O>) -> bool {
    let offsets = strings.value_offsets();
    let Some((&start, rest)) = offsets.split_first() else {
        return true;
    };
    let Some(&next) = rest.first() else {
        return true;
    };
    let length = next - start;
    if offsets.windows(2).any(|pair| pair[1] - pair[0] != length) {
        return false;
    }
    let (start, end, length) = (
        start.as_usize(),
        offsets[offsets.len() - 1].as_usize(),
        length.as_usize(),
    );
    let bytes = &strings.value_data()[start..end];
    bytes[length..] == bytes[..bytes.len() - length]
}

fn one_primitive<T: ArrowPrimitiveType>(values: &PrimitiveArray<T>) -> bool {
    let values = values.values();
    values
        .first()
        .is_none_or(|first| values.iter().all(|v| v == first))
}

/// The aggregate's vectorised accumulator, or its row accumulator behind DataFusion's
/// adapter (as the built-in aggregate does).
fn groups_accumulator(expr: &Arc<AggregateFunctionExpr>) -> Result<Box<dyn GroupsAccumulator>> {
    if expr.groups_accumulator_supported() {
        return expr.create_groups_accumulator();
    }
    let expr = Arc::clone(expr);
    Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
        expr.create_accumulator()
    })))
}

#[cfg(test)]
mod tests;
