// Command livechatd is the livechat host: it hands a chatbot's users over to
// human agents on a support platform through provider plugins, and back.
//
//	livechatd serve -config FILE          run the host (also: livechatd -config FILE)
//	livechatd validate -config FILE       check the config and the provider blocks
//	livechatd plugins -config FILE        list the plugins: version, protocol, sha256, status
//	livechatd webhook-url -config FILE -bot BOT   what to paste into the platform
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// The first signal starts a graceful shutdown; a second one, from an
		// operator who will not wait, gets the default action and kills.
		stop()
	}()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: livechatd <command> -config FILE [flags]

commands:
  serve         run the host (the default: livechatd -config FILE)
  validate      check the config file, including each bot's provider block
  plugins       list the plugins found in plugin_dir with their status
  webhook-url   print what to enter in the platform for a bot (-bot BOT)
  version       print the version

Run 'livechatd <command> -h' for the command's flags.
`

// errUsage is returned after the usage was printed.
var errUsage = errors.New("usage")

// Main runs livechatd with args and returns the exit code: 0, 1 for a
// failure, 2 for a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stdout, stderr)
	case "validate":
		err = validate(ctx, args, stdout, stderr)
	case "plugins":
		err = plugins(ctx, args, stdout, stderr)
	case "webhook-url":
		err = webhookURL(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "livechatd %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "livechatd: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	case errors.Is(err, errReported):
		return 1
	}
	fmt.Fprintf(stderr, "livechatd %s: %v\n", cmd, err)
	return 1
}

// flags parses the flags every command has, plus those add sets.
func flags(cmd string, args []string, stderr io.Writer, add func(*flag.FlagSet)) (configPath string, err error) {
	fs := flag.NewFlagSet("livechatd "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&configPath, "config", "", "the HCL config file (required)")
	if add != nil {
		add(fs)
	}
	if err := fs.Parse(args); err != nil {
		return "", errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "livechatd %s: unexpected argument %q\n", cmd, fs.Arg(0))
		fs.Usage()
		return "", errUsage
	}
	if configPath == "" {
		fmt.Fprintf(stderr, "livechatd %s: -config FILE is required\n", cmd)
		fs.Usage()
		return "", errUsage
	}
	return configPath, nil
}
