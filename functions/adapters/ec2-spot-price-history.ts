import { paginateDescribeSpotPriceHistory, type EC2Client } from "@aws-sdk/client-ec2";
import { SPOT_PRODUCT_DESCRIPTION, type SpotQuote } from "../core/price-snapshot.js";
import { asPriceFeedError, type SpotPriceHistory } from "../metering/month-prices.js";

/**
 * The Spot price history port on EC2 DescribeSpotPriceHistory (EC2 API reference). Asked for
 * [start, end) of the month it returns every change in the range and "the last price change
 * before the start time, which is the effective price as of the start time"; items are
 * `SpotPrice { AvailabilityZone, InstanceType, ProductDescription, SpotPrice (a decimal string),
 * Timestamp }`, paged by `NextToken` (the SDK's paginateDescribeSpotPriceHistory follows it).
 * History is kept for 90 days. The client is the region's (EC2 is regional).
 */
export function ec2SpotPriceHistory(client: EC2Client): SpotPriceHistory {
  return {
    async changes(req) {
      const out: SpotQuote[] = [];
      const pages = paginateDescribeSpotPriceHistory(
        { client, pageSize: 1000 },
        {
          StartTime: new Date(req.startMs),
          EndTime: new Date(req.endMs),
          InstanceTypes: req.instanceTypes as never[],
          ProductDescriptions: [SPOT_PRODUCT_DESCRIPTION],
          Filters: [{ Name: "availability-zone", Values: req.zones }],
        },
      );
      try {
        for await (const page of pages)
          for (const p of page.SpotPriceHistory ?? []) {
            // An item without these fields cannot be attributed to a node's price: refuse rather than skip it.
            if (!p.InstanceType || !p.AvailabilityZone || !p.SpotPrice || !p.Timestamp)
              throw new Error(`DescribeSpotPriceHistory returned an incomplete item: ${JSON.stringify(p)}`);
            out.push({
              instanceType: p.InstanceType,
              zone: p.AvailabilityZone,
              productDescription: p.ProductDescription ?? SPOT_PRODUCT_DESCRIPTION,
              at: p.Timestamp.toISOString(),
              hourly: p.SpotPrice,
            });
          }
      } catch (e) {
        throw asPriceFeedError(e, "EC2 DescribeSpotPriceHistory");
      }
      return out;
    },
  };
}
