package proxy

import (
	"fmt"
	"os"
)

// EngineEnv names the environment variable that chooses the engine of plain-HTTP listeners: "goroutine"
// forces one goroutine per connection everywhere; "" or "auto" uses the event-loop engine where it exists
// (Linux). TLS listeners always use the goroutine engine.
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
