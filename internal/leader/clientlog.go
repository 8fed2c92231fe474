package leader

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
)

// clientLogger returns a logr.Logger for the contextual logging of client-go's REST client
// (klog.FromContext, which reads the logr.Logger of the request's context) that writes to
// log: its V(0) messages, such as the API server's warnings, at debug level, its errors at
// warn level, and drops its verbose (V(1) and up) messages. Run's own logs report
// leadership changes and failed requests.
func clientLogger(log *zap.Logger) logr.Logger {
	return logr.New(zapSink{log: log.WithOptions(zap.AddCallerSkip(2))})
}

type zapSink struct{ log *zap.Logger }

func (zapSink) Init(logr.RuntimeInfo) {}

func (zapSink) Enabled(level int) bool { return level <= 0 }

func (s zapSink) Info(_ int, msg string, keysAndValues ...any) {
	s.log.Debug(msg, fields(keysAndValues)...)
}

func (s zapSink) Error(err error, msg string, keysAndValues ...any) {
	s.log.Warn(msg, append(fields(keysAndValues), zap.Error(err))...)
}

func (s zapSink) WithValues(keysAndValues ...any) logr.LogSink {
	return zapSink{log: s.log.With(fields(keysAndValues)...)}
}

func (s zapSink) WithName(name string) logr.LogSink {
	return zapSink{log: s.log.Named(name)}
}

// fields turns logr's alternating keys and values into zap fields.
func fields(keysAndValues []any) []zap.Field {
	out := make([]zap.Field, 0, (len(keysAndValues)+1)/2)
	for i := 0; i < len(keysAndValues); i += 2 {
		key, ok := keysAndValues[i].(string)
		if !ok {
			key = fmt.Sprint(keysAndValues[i])
		}
		if i+1 == len(keysAndValues) {
			out = append(out, zap.Any(key, "(MISSING)"))
			break
		}
		out = append(out, zap.Any(key, keysAndValues[i+1]))
	}
	return out
}

// logrContext returns ctx carrying clientLogger(log), which the REST client's
// klog.FromContext finds.
func logrContext(ctx context.Context, log *zap.Logger) context.Context {
	return logr.NewContext(ctx, clientLogger(log))
}
