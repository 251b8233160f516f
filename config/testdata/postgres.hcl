storage "postgres" {
  dsn = env("DATABASE_URL")
}
