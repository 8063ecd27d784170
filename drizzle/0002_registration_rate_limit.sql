CREATE TABLE "registration_rate_limits" (
	"client_key" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"count" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "registration_rate_limits_pkey" PRIMARY KEY("client_key","window_start")
);
--> statement-breakpoint
CREATE INDEX "registration_rate_limits_window_start_idx" ON "registration_rate_limits" USING btree ("window_start");