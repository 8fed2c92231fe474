package ledger

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFS holds the schema's versioned migrations, NNNN_name.sql, applied in order.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one versioned schema step.
type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations, sorted by version.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list embedded migrations: %w", err)
	}
	seen := make(map[int64]string)
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql with NNNN > 0", base)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, version)
		}
		seen[version] = base
		text, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: version, name: strings.TrimSuffix(base, ".sql"), sql: string(text)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate brings db's schema up to date in one transaction, under the backend's migration
// guard, so replicas starting together apply each migration once and applying twice is a
// no-op.
func migrate(ctx context.Context, db backend) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	err = db.write(ctx, func(q querier) error {
		if guard := db.migrationGuard(); guard != "" {
			if _, err := q.exec(ctx, guard); err != nil {
				return fmt.Errorf("take the migration lock: %w", err)
			}
		}
		if _, err := q.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version     BIGINT NOT NULL PRIMARY KEY,
			name        TEXT   NOT NULL,
			applied_at  BIGINT NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := make(map[int64]bool)
		err := q.query(ctx, `SELECT version FROM schema_migrations`, nil, func(scan func(...any) error) error {
			var v int64
			if err := scan(&v); err != nil {
				return err
			}
			applied[v] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := q.exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := q.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, dbTime(time.Now())); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate %s ledger: %w", db.kind(), err)
	}
	return nil
}
