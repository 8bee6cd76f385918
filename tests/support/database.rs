//! A database of a test's or a benchmark's own: a fresh SQLite file, or a
//! PostgreSQL database created for it and dropped when it is dropped.
//! Shared by the tests and the benches (through `#[path]`).

/// Runs statements in order on one connection straight to the database,
/// past tocsin (to tamper, or to look); the rows they touched.
pub async fn raw(url: &str, statements: &[&str]) -> Result<u64, sqlx::Error> {
    use sqlx::Connection;
    let mut touched = 0;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        for sql in statements {
            let statement = sqlx::AssertSqlSafe(sql.to_string());
            touched += sqlx::query(statement)
                .execute(&mut conn)
                .await?
                .rows_affected();
        }
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        for sql in statements {
            let statement = sqlx::AssertSqlSafe(sql.to_string());
            touched += sqlx::query(statement)
                .execute(&mut conn)
                .await?
                .rows_affected();
        }
        conn.close().await?;
    }
    Ok(touched)
}

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres { server_url: String },
}

/// A database of the test's own, removed when the test ends.
pub struct TestDatabase {
    pub url: String,
    /// Holds the SQLite file (and any other files of the run).
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.path().join("tocsin.db").display()),
                dir,
                postgres: None,
            },
            Backend::Postgres { server_url } => {
                let name = format!("tocsin_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(server_url)
                    .await
                    .expect("connect to the PostgreSQL server");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                admin.close().await;
                let mut url = reqwest::Url::parse(server_url).expect("postgres URL");
                url.set_path(&name);
                TestDatabase {
                    url: url.to_string(),
                    dir,
                    postgres: Some((server_url.clone(), name)),
                }
            }
        }
    }
}

impl TestDatabase {
    /// The same database for a second replica; the first one's handle
    /// still removes it.
    pub fn share(&self) -> TestDatabase {
        TestDatabase {
            url: self.url.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server_url, name)) = self.postgres.take() else {
            return;
        };
        cleanup_from_drop(async move {
            if let Ok(pool) = sqlx::PgPool::connect(&server_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&pool)
                .await;
                pool.close().await;
            }
        });
    }
}

/// Runs a cleanup to its end from a `Drop`: drop runs outside async, so a
/// thread of its own blocks on a runtime of its own.
pub fn cleanup_from_drop(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(cleanup);
    })
    .join();
}
