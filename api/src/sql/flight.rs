//! Arrow Flight SQL: the same engine for DBeaver, JDBC/ADBC, Python and R clients.
//!
//! Stateless: a statement's ticket (and a prepared statement's handle) is the SQL text,
//! so any server instance can answer any `DoGet`. The API key travels as
//! `authorization: Bearer <key>` on every call, or as the password of a `Basic` handshake,
//! which answers with the bearer token clients then send. `GetFlightInfo` plans the
//! query (for its schema) without running it; `DoGet` runs it under the same limits and
//! per-city access as `POST /v1/sql`. Tools browse the catalog with `GetCatalogs`
//! (`stadtpuls`), `GetDbSchemas` (`public`), `GetTables` (with column schemas),
//! `GetTableTypes` and `GetSqlInfo` (read-only server); keys, imported/exported keys and
//! XDBC type info are not offered.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::server::FlightSqlService;
use std::sync::LazyLock;

use arrow_flight::sql::metadata::{GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    IpcMessage, SchemaAsIpc, Ticket,
};
use bytes::Bytes;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use futures::{Stream, TryStreamExt};
use prost::Message;
use std::sync::Arc;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::{Principal, SqlEngine, access};
use crate::edge::Edge;
use crate::error::SqlError;

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// What `GetSqlInfo` answers: who we are, and that nothing can be written.
static SQL_INFO: LazyLock<Option<SqlInfoData>> = LazyLock::new(|| {
    let mut builder = SqlInfoDataBuilder::new();
    builder.append(SqlInfo::FlightSqlServerName, "Stadtpuls");
    builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    // The Arrow format version (Schema.fbs), not the library's.
    builder.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    builder.append(SqlInfo::FlightSqlServerReadOnly, true);
    builder.build().ok()
});

fn sql_info() -> Result<&'static SqlInfoData, Status> {
    SQL_INFO
        .as_ref()
        .ok_or_else(|| Status::internal("server info did not build"))
}

/// A `FlightInfo` whose one ticket is the command itself (catalog commands are answered
/// statelessly in `DoGet`).
fn command_info(
    command: impl ProstMessageExt,
    schema: &Schema,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let ticket = Ticket::new(command.as_any().encode_to_vec());
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

/// One batch as a `DoGet` stream.
fn batch_stream(
    schema: SchemaRef,
    batch: Result<RecordBatch, arrow_flight::error::FlightError>,
) -> Response<<FlightSql as FlightService>::DoGetStream> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::iter([batch]))
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

fn table_types_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "table_type",
        DataType::Utf8,
        false,
    )]))
}

/// The Flight SQL service over a [`SqlEngine`].
#[derive(Debug, Clone)]
pub struct FlightSql {
    engine: SqlEngine,
}

impl FlightSql {
    /// A service answering with `engine`.
    pub fn new(engine: SqlEngine) -> Self {
        Self { engine }
    }

    fn principal(&self, metadata: &MetadataMap) -> Result<Principal, Status> {
        let key = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(access::key_from_authorization)
            .ok_or_else(|| status(SqlError::Unauthorized))?;
        self.engine.authenticate(&key).map_err(status)
    }

    fn sql_of(handle: &[u8]) -> Result<String, Status> {
        String::from_utf8(handle.to_vec())
            .map_err(|_| Status::invalid_argument("statement handle is not UTF-8 SQL"))
    }

    async fn flight_info(
        &self,
        principal: &Principal,
        sql: &str,
        ticket: Ticket,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = self
            .engine
            .plan_schema(principal, sql)
            .await
            .map_err(status)?;
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    async fn stream(
        &self,
        principal: &Principal,
        sql: &str,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let result = self.engine.query(principal, sql).await.map_err(status)?;
        let batches = futures::stream::iter(result.batches.into_iter().map(Ok));
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(result.schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The gRPC status of a SQL error.
fn status(error: SqlError) -> Status {
    let message = error.to_string();
    match error {
        SqlError::Unauthorized => Status::unauthenticated(message),
        SqlError::Refused(_) => Status::permission_denied(message),
        SqlError::Invalid(_) => Status::invalid_argument(message),
        SqlError::Limit { limit, .. } if limit == super::limits::TIMEOUT_KEY => {
            Status::deadline_exceeded(message)
        }
        SqlError::Limit { .. } => Status::resource_exhausted(message),
        SqlError::Disabled => Status::unavailable(message),
        SqlError::Internal(_) => Status::internal(message),
    }
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<ResponseStream<HandshakeResponse>>, Status> {
        let key = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(access::key_from_authorization)
            .ok_or_else(|| status(SqlError::Unauthorized))?;
        self.engine.authenticate(&key).map_err(status)?;
        let token = format!("Bearer {key}");
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: Bytes::from(key.into_bytes()),
        };
        let mut response: Response<ResponseStream<HandshakeResponse>> =
            Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        let value = token
            .parse()
            .map_err(|_| Status::invalid_argument("the key is not a valid header value"))?;
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let principal = self.principal(request.metadata())?;
        let ticket = TicketStatementQuery {
            statement_handle: Bytes::from(query.query.clone().into_bytes()),
        };
        let ticket = Ticket::new(ticket.as_any().encode_to_vec());
        self.flight_info(&principal, &query.query, ticket, request.into_inner())
            .await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        command: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let principal = self.principal(request.metadata())?;
        let sql = Self::sql_of(&command.prepared_statement_handle)?;
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        self.flight_info(&principal, &sql, ticket, request.into_inner())
            .await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let principal = self.principal(request.metadata())?;
        let sql = Self::sql_of(&ticket.statement_handle)?;
        self.stream(&principal, &sql).await
    }

    async fn do_get_prepared_statement(
        &self,
        command: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let principal = self.principal(request.metadata())?;
        let sql = Self::sql_of(&command.prepared_statement_handle)?;
        self.stream(&principal, &sql).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let principal = self.principal(request.metadata())?;
        let schema = self
            .engine
            .plan_schema(&principal, &query.query)
            .await
            .map_err(status)?;
        let IpcMessage(dataset_schema) = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))?;
        let IpcMessage(parameter_schema) =
            SchemaAsIpc::new(&Schema::empty(), &IpcWriteOptions::default())
                .try_into()
                .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: Bytes::from(query.query.into_bytes()),
            dataset_schema,
            parameter_schema,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.principal(request.metadata())?;
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(request.metadata())?;
        let schema = query.into_builder().schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(request.metadata())?;
        let mut builder = query.into_builder();
        builder.append(super::CATALOG);
        let schema = builder.schema();
        Ok(batch_stream(schema, builder.build()))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(request.metadata())?;
        let schema = query.clone().into_builder().schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(request.metadata())?;
        let mut builder = query.into_builder();
        builder.append(super::CATALOG, super::SCHEMA);
        let schema = builder.schema();
        Ok(batch_stream(schema, builder.build()))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(request.metadata())?;
        let schema = query.clone().into_builder().schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let principal = self.principal(request.metadata())?;
        let tables = self.engine.tables(&principal).await.map_err(status)?;
        let mut builder: GetTablesBuilder = query.into_builder();
        for table in &tables {
            builder
                .append(
                    super::CATALOG,
                    super::SCHEMA,
                    &table.name,
                    table.table_type,
                    &table.schema,
                )
                .map_err(|e| Status::internal(format!("cannot list `{}`: {e}", table.name)))?;
        }
        let schema = builder.schema();
        Ok(batch_stream(schema, builder.build()))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(request.metadata())?;
        command_info(query, &table_types_schema(), request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(request.metadata())?;
        let schema = table_types_schema();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["TABLE", "VIEW"]))],
        )
        .map_err(arrow_flight::error::FlightError::from);
        Ok(batch_stream(schema, batch))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(request.metadata())?;
        let schema = query.clone().into_builder(sql_info()?).schema();
        command_info(query, &schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(request.metadata())?;
        let builder = query.into_builder(sql_info()?);
        let schema = builder.schema();
        Ok(batch_stream(schema, builder.build()))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Binds `bind` and serves Flight SQL there until `shutdown` completes, within `edge`'s
/// bounds (`crate::edge`).
///
/// # Errors
/// When the address cannot be bound or serving fails.
pub async fn serve_on(
    bind: SocketAddr,
    engine: SqlEngine,
    edge: Edge,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    serve(listener, engine, edge, shutdown).await?;
    Ok(())
}

/// How often an idle Flight SQL connection is pinged, and how long the answer may take:
/// a peer that stopped answering is closed after at most the sum.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves Flight SQL on `listener` until `shutdown` completes, within `edge`'s bounds: the
/// shared connection budget, `edge.header_read_timeout` for the HTTP/2 preface, and
/// `edge.drain` for calls still running at shutdown (then it returns; their connections
/// end with the runtime).
///
/// # Errors
/// When serving fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: SqlEngine,
    edge: Edge,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let address: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(address = ?address, "flight sql listening");
    let drain = edge.drain;
    let incoming = crate::edge::grpc::incoming(listener, edge);
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .add_service(FlightServiceServer::new(FlightSql::new(engine)))
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        });
    tokio::pin!(serving);
    let drained = async move {
        if stopping_rx.await.is_err() {
            // the server ended without a shutdown request
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        served = &mut serving => served,
        () = drained => {
            tracing::warn!(drain_s = drain.as_secs_f64(), "flight sql calls still running after the shutdown drain are left to end with the process");
            Ok(())
        }
    }
}
