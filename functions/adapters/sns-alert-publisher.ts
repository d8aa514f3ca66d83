import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";

export interface AlertPublisher {
  publish(subject: string, message: object): Promise<void>;
}

/** Optional SNS topic for other integrations: the alert as JSON, subject cut to SNS's 100-character limit. */
export function snsAlertPublisher(client: SNSClient, topicArn: string): AlertPublisher {
  return {
    async publish(subject, message) {
      await client.send(new PublishCommand({ TopicArn: topicArn, Subject: subject.replace(/[\r\n]/g, " ").slice(0, 100), Message: JSON.stringify(message) }));
    },
  };
}
