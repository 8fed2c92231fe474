package leader

import (
	"fmt"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
)

// klogToZap returns a logr.Logger for client-go's contextual logging (klog.FromContext)
// that writes to log: its V(0) messages at debug level, its errors at warn level, and
// drops its verbose (V(1) and up) messages. Run's own logs report leadership changes.
func klogToZap(log *zap.Logger) logr.Logger {
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
