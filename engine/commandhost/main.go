// Command pulumi-resource-command is this project's stand-in for @pulumi/command's resource plugin
// (github.com/pulumi/pulumi-command, release v1.2.1 = commit 7f3eb6f3b77c), for the engine tier.
//
// Why it exists: the real provider's module is refused by the Go module proxy this machine reaches
// (`go list -m -json github.com/pulumi/pulumi-command/provider@7f3eb6f3b77c` answers "403 Forbidden:
// This module version is not available"; see engine/README.md), so it cannot be built here, and
// without a resource-command-v1.2.1 plugin the engine cannot run a stack that has a remote.Command.
//
// This is our own implementation of the behaviour of the real provider's `command:remote:Command`,
// written on the raw pulumirpc.ResourceProviderServer contract of the served sdk/v3 module (as
// engine/langhost does for the language host). Each behaviour names the file of the real provider it
// follows (read at 7f3eb6f3b77c, under provider/pkg/provider/), and, where the real provider leaves
// the work to its framework (github.com/pulumi/pulumi-go-provider v1.3.0, its infer package), that
// file too. No code of either is copied here.
//
// Only command:remote:Command is served: command:local:Command, command:remote:CopyToRemote,
// command:remote:CopyFile and command:local:run answer with an error naming the stand-in.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is what GetPluginInfo reports: the @pulumi/command release this stands in for. The build
// (engine/build.sh) sets it with -X main.version=…; engine/checkVersions.ts compares it with the
// locked @pulumi/command, since the engine loads resource-command at exactly the SDK's version.
var version = "1.2.1"

func main() {
	// The flags the engine may pass to any resource plugin before its address: --logtostderr and -v=N
	// are glog's (registered by the sdk's logging package), --logflow and --tracing are accepted too.
	flag.Bool("logflow", false, "flow log settings to child processes")
	flag.String("tracing", "", "emit tracing to a Zipkin-compatible endpoint (ignored)")
	showVersion := flag.Bool("version", false, "print the plugin version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	logging.InitLogging(false, 0, false)

	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	cancelChannel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancelChannel)
	}()

	var sink logSink = discardLog{}
	if engineAddress != "" {
		// Exit when the engine goes away, as every Pulumi plugin does.
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start health check: %w", err))
		}
		engineLog, err := dialEngineLog(engineAddress)
		if err != nil {
			cmdutil.Exit(fmt.Errorf("could not connect to the engine at %s: %w", engineAddress, err))
		}
		sink = engineLog
	}

	prov := newProvider(sink)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelChannel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, prov)
			return nil
		},
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start the command provider's RPC server: %w", err))
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("command provider RPC stopped serving: %w", err))
	}
}
