module github.com/zerodrift/zerodrift

go 1.26.8

require (
	cloud.google.com/go/compute v1.75.0 // indirect
	cloud.google.com/go/resourcemanager v1.18.1 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/term v0.48.0 // indirect
	google.golang.org/api v0.315.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
