package proxy

import (
	"errors"
	"fmt"
	"os"
)

// EngineEnv names the environment variable that chooses the gateway's engine: "goroutine" forces one
// goroutine per connection everywhere; "" or "auto" uses the event-loop engine where it exists (Linux)
// for plain-HTTP connections and for TLS ones once their handshake is made and HTTP/1.1 chosen.
const EngineEnv = "PORTCULLIS_GATEWAY_ENGINE"

// loopEngineWanted reads EngineEnv.
func loopEngineWanted() (bool, error) {
	switch v := os.Getenv(EngineEnv); v {
	case "", "auto":
		return loopEngineAvailable, nil
	case "eventloop":
		if !loopEngineAvailable {
			return false, fmt.Errorf("%s=eventloop: the event-loop engine exists only on Linux; unset it or set it to auto or goroutine", EngineEnv)
		}
		return true, nil
	case "goroutine":
		return false, nil
	default:
		return false, fmt.Errorf("%s=%q is not an engine; set it to auto, eventloop or goroutine", EngineEnv, v)
	}
}

// IOURingEnv names the environment variable that says whether event loops batch their socket reads and
// writes with an io_uring: "" or "auto" where the kernel allows one (kernel.io_uring_disabled or a
// seccomp profile may refuse it), "off" never, "on" always (the gateway refuses to start without one).
const IOURingEnv = "PORTCULLIS_GATEWAY_IO_URING"

// ioURingMode reads IOURingEnv.
func ioURingMode() (string, error) {
	switch v := os.Getenv(IOURingEnv); v {
	case "", "auto":
		return "auto", nil
	case "on", "off":
		return v, nil
	default:
		return "", fmt.Errorf("%s=%q is not a choice; set it to auto, on or off", IOURingEnv, v)
	}
}

// errIOURingRequired is the start failure of IOURingEnv=on without an io_uring.
var errIOURingRequired = errors.New(IOURingEnv + "=on, but the kernel refuses an io_uring")
