package gormstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm/logger"
)

// slowStatement is the duration after which a statement is logged.
const slowStatement = time.Second

// gormLogger sends GORM's messages to slog at warning level and never
// prints. Statement errors are returned to the caller, so they are not
// logged here; slow statements are, without their SQL text (which holds
// session ids).
type gormLogger struct{ log *slog.Logger }

func newGormLogger(log *slog.Logger) logger.Interface { return gormLogger{log: log} }

// LogMode implements logger.Interface; the level is fixed.
func (l gormLogger) LogMode(logger.LogLevel) logger.Interface { return l }

// Info implements logger.Interface; GORM's informational messages are dropped.
func (l gormLogger) Info(context.Context, string, ...any) {}

// Warn implements logger.Interface.
func (l gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, "ginsession: gorm: "+fmt.Sprintf(msg, args...))
}

// Error implements logger.Interface, at warning level: the error also
// reaches the caller.
func (l gormLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, "ginsession: gorm: "+fmt.Sprintf(msg, args...))
}

// Trace implements logger.Interface: only statements that succeeded
// slowly are logged (a failed one's error goes to the caller). The time
// includes waiting for a pooled connection.
func (l gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if elapsed := time.Since(begin); err == nil && elapsed >= slowStatement {
		_, rows := fc()
		l.log.WarnContext(ctx, "ginsession: gorm: slow statement", "elapsed", elapsed, "rows", rows)
	}
}
