// The page's entry point (index.html loads it): every other module does nothing on import.
import { start } from "./app.js";

start();
