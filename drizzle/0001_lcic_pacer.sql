CREATE TABLE "lcic_rate_limits" (
	"key" text PRIMARY KEY NOT NULL,
	"next_slot_us" bigint NOT NULL
);
