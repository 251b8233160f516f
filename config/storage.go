package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
)

// Bounds of the postgres storage block.
const (
	// MaxPostgresConns bounds max_conns: every replica holds up to this
	// many connections, and PostgreSQL's default max_connections is 100.
	MaxPostgresConns = 1000
	// MaxReplicaName bounds replica, in bytes.
	MaxReplicaName = 128
)

// CheckReplica reports why name cannot be a replica's name: it must be
// 1 to MaxReplicaName bytes of printable characters without spaces.
func CheckReplica(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > MaxReplicaName:
		return fmt.Errorf("must be at most %d bytes, got %d", MaxReplicaName, len(name))
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("must be printable characters without spaces, got %q", name)
		}
	}
	return nil
}

// DefaultReplica is the replica name of a postgres storage block without
// one: the host name and the listen port ("web-1:8080"). It is stable
// across restarts of one process on one machine, and differs between
// replicas on different machines, or on one machine with different ports.
// Containers whose host name changes at every start must set replica.
func DefaultReplica(listen string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "livechatd"
	}
	port := listen
	if i := strings.LastIndex(listen, ":"); i >= 0 {
		port = listen[i+1:]
	}
	name := host
	if port != "" {
		name += ":" + port
	}
	if len(name) > MaxReplicaName {
		name = name[len(name)-MaxReplicaName:]
	}
	return name
}

// ReplicaName is the replica name serve uses: Storage.Replica, or
// DefaultReplica of Listen.
func (f *File) ReplicaName() string {
	if f.Storage.Replica != "" {
		return f.Storage.Replica
	}
	return DefaultReplica(f.Listen)
}
