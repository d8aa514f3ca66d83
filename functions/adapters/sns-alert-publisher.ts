import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { AlertPublisher } from "../quota/quota-ports.js";

/**
 * Optional SNS topic for other integrations: the alert as JSON. SNS subjects
 * must be printable ASCII without line breaks, at most 100 characters.
 */
export function snsAlertPublisher(client: SNSClient, topicArn: string): AlertPublisher {
  return {
    async publish(subject, message) {
      await client.send(
        new PublishCommand({
          TopicArn: topicArn,
          Subject: subject.replace(/[^\x20-\x7e]/g, "?").slice(0, 100),
          Message: JSON.stringify(message),
        }),
      );
    },
  };
}
